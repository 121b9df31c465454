"""Dynamic monitoring (动态监测): department feeds → signals → sweep → warnings → routing → reviews."""
