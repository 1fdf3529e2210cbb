"""Built-in observations, one module each (see concilium/seams/observation.py)."""
