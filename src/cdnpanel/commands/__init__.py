"""Commands: the registry and one module per command family."""
