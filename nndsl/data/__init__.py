"""Built-in data sources. `catalog` says statically which fields each one gives."""
