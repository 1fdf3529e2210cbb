"""Built-in tools, one module each (see concilium/seams/tool.py)."""
