"""The kserve-fluid CrossGuard policy pack (run by the CLI from this folder; see __main__.py)."""
