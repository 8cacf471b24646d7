"""Repository upkeep: the vendored chart archives and CRD schemas (standard library only)."""
