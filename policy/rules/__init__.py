"""Validators of the kserve-fluid policy pack: plain functions, importable without a server.

`policy/__main__.py` turns them into CrossGuard policies; the tests call the same functions
with resources adapted from the offline plan (`plan_adapter.py`).
"""
