"""The fault script of issue 13: `python -m bench.faults` (see __main__.py)."""
