"""Built-in tools, one module each (see concilium/tools/registry.py)."""
