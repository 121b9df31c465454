"""Built-in warning rules (预警规则): one module per rule, each registered by its own entry point."""
