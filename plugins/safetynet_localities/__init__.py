"""Built-in safetynet plugins."""
