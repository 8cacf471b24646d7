"""Every rule of the pack, in the order the README lists them."""

from __future__ import annotations

from . import destroy, exposure, identity, nodes, retention, secrets, storage, workloads
from .base import ResourceRule, StackRule

RESOURCE_RULES: list[ResourceRule] = [
    *nodes.RULES,
    *identity.RULES,
    *workloads.RULES,
    *exposure.RULES,
    *retention.RULES,
]
STACK_RULES: list[StackRule] = [
    *storage.RULES,
    *secrets.RULES,
    *destroy.RULES,
]
