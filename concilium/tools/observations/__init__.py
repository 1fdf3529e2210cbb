"""Built-in observations, one module each (see concilium/tools/observation.py)."""
