"""The kserve-fluid policy pack, run by the Pulumi CLI (`pulumi preview --policy-pack policy`).

Never imported by tests: constructing `PolicyPack` starts the analyzer's gRPC server and blocks
(pulumi/pulumi-policy:sdk/python/lib/pulumi_policy/policy.py@v1.21.0). The CLI runs this folder
with `runpy.run_path`, so `rules` imports from here (pulumi/pulumi sdk/python/lib/pulumi/policy/
__main__.py).
"""

from pulumi_policy import PolicyPack
from rules.pack import PACK_NAME, build_policies

PolicyPack(name=PACK_NAME, policies=build_policies())
