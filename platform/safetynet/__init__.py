"""safetynet: low-income population monitoring and tiered social assistance."""
