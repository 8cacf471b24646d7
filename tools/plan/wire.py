"""The engine's special values as they travel on the wire, and the plan's mock account.

Shared by the plan renderer (tools/plan/render.py) and the policy feed
(tools/plan/policy_feed.py): signatures of secret and resource-reference values and the
unknown sentinel (pulumi/pulumi sdk/python/lib/pulumi/runtime/rpc.py `_special_sig_key`,
`_special_secret_sig`, `_special_resource_sig`, `UNKNOWN`).
"""

from __future__ import annotations

SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
SIG_KEY = "4dabf18193072939515e22adb298388d"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
"""The wire form of an unknown value."""
ACCOUNT_ID = "123456789012"
"""The account the plan's mocks give (AWS's documentation example)."""
