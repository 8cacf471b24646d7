"""The offline plan as the Pulumi engine feeds it to the policy pack, and the pack's verdict.

The pack is run through pulumi-policy's own analyzer servicer (`_PolicyAnalyzerServicer`, the
object `PolicyPack` serves to the CLI: pulumi/pulumi-policy:sdk/python/lib/pulumi_policy/
policy.py@v1.21.0) with requests shaped as the engine shapes them
(pulumi/pulumi@1b59498):
- `Analyze` gets each registration's **inputs** (pkg/resource/deploy/step_generator.go
  `analyzeAll`), `AnalyzeStack` every resource's **outputs** with parent, dependencies and
  property dependencies, once all steps ran, in preview and in up (`AnalyzeResources`, called
  from deployment_executor.go `Execute`);
- properties are marshalled with KeepUnknowns and KeepSecrets but not KeepResources
  (pkg/resource/plugin/analyzer_plugin.go `Analyze`/`AnalyzeStack`), so a resource reference
  arrives as the referenced resource's ID, or its URN when it has none (a component), and an
  unknown ID as an unknown (sdk/go/common/resource/plugin/rpc.go `MarshalPropertyValue`);
- a remote component's registration is the one its provider makes: pulumi-eks (and awsx)
  bundle @pulumi/pulumi 3.173.0 (pulumi/pulumi-eks:nodejs/eks/yarn.lock@7bf0c1b), whose
  `ComponentResource` registers props `{}` for a component built in-process
  (pulumi/pulumi:sdk/nodejs/resource.ts@v3.173.0, `remote || opts?.urn ? args : {}`), and the
  provider registers the component's children (tools/plan/pulumi_eks_children.py).
What stays an approximation, kept visible: a custom resource's outputs are its inputs (bridged
providers echo every input into the state; computed outputs no rule reads are left out), and a
remote component's outputs hold only the child references the rules follow.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.plan.pulumi_eks_children import CLUSTER, MANAGED_NODE_GROUP, child_urn, children
from tools.plan.wire import ACCOUNT_ID, SECRET_SIG, SIG_KEY, UNKNOWN

REMOTE_NODE_COMPONENTS = ("eks:index:", "awsx:")
"""Type prefixes of components whose provider runs Node code with @pulumi/pulumi < 3.202."""


@dataclass
class EngineResource:
    """One resource as the engine knows it: engine-shaped inputs and outputs."""

    urn: str
    type: str
    name: str
    parent: str
    custom: bool
    protect: bool
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    dependencies: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Diagnostic:
    """One policy diagnostic as the CLI would print it."""

    policy: str
    level: str
    urn: str
    message: str

    def line(self) -> str:
        """`<level> <policy>: <what is wrong>` (the description left out); the resource is
        named when the message does not name it (the SDK's "can't run ... during preview")."""
        detail = self.message.split("\n", 1)[-1]
        typ, _, name = self.urn.rsplit("$", 1)[-1].partition("::")
        if self.urn and not detail.startswith(f"{typ} {name}"):
            detail = f"{typ} {name}: {detail}"
        return f"{self.level} {self.policy}: {detail}"


def _wrap(value: Any, path: str, secret_paths: set[str], refs: Mapping[str, str]) -> Any:
    if isinstance(value, dict) and set(value) == {"$resource"}:
        value = refs.get(value["$resource"], value["$resource"])
    elif isinstance(value, dict):
        value = {k: _wrap(v, f"{path}.{k}", secret_paths, refs) for k, v in value.items()}
    elif isinstance(value, list):
        value = [_wrap(v, f"{path}[{i}]", secret_paths, refs) for i, v in enumerate(value)]
    if path in secret_paths:
        return {SIG_KEY: SECRET_SIG, "value": value}
    return value


def _id(name: str, preview: bool) -> str:
    """A new resource's ID: unknown in a first preview; after up, what the plan's mocks gave."""
    return UNKNOWN if preview else f"{name}-id"


def _role_arn(record: Mapping[str, Any] | None, preview: bool) -> str:
    if preview or record is None:
        return UNKNOWN
    return f"arn:aws:iam::{ACCOUNT_ID}:role/{record['name']}"


def engine_resources(document: Mapping[str, Any], preview: bool = False) -> list[EngineResource]:
    """Every resource the engine would hand the pack for a plan document.

    `preview`: the document was rendered with `tools.plan --preview` (a first preview: IDs and
    computed outputs unknown).
    """
    records = list(document["resources"])
    by_urn = {r["urn"]: r for r in records}
    refs = {r["urn"]: _id(r["name"], preview) for r in records if r["custom"]}
    resources: list[EngineResource] = []
    for record in records:
        typ = record["type"]
        inputs = _wrap(record["inputs"], "$", set(record["secretPaths"]), refs)
        if not typ.startswith(REMOTE_NODE_COMPONENTS):
            resources.append(
                EngineResource(
                    urn=record["urn"],
                    type=typ,
                    name=record["name"],
                    parent=record["parent"],
                    custom=record["custom"],
                    protect=record["protect"],
                    inputs=inputs,
                    outputs=inputs if record["custom"] else {},
                    dependencies=list(record["dependencies"]),
                )
            )
            continue

        def lookup(what: str, record: Mapping[str, Any] = record) -> Any:
            raw = record["inputs"]
            if what == "clusterName":
                cluster = by_urn.get((raw.get("cluster") or {}).get("$resource", ""))
                return (cluster or {}).get("inputs", {}).get("name", UNKNOWN)
            if what == "nodeRoleArn":
                return _role_arn(
                    by_urn.get((raw.get("nodeRole") or {}).get("$resource", "")), preview
                )
            if what == "serviceRoleArn":
                return (
                    UNKNOWN
                    if preview
                    else f"arn:aws:iam::{ACCOUNT_ID}:role/{record['name']}-eksRole"
                )
            return _id(f"{record['name']}-{what}", preview)

        built = children(typ, record["name"], record["inputs"], lookup)
        child_ids = {child.type: _id(child.name, preview) for child in built}
        outputs: dict[str, Any] = {}
        if typ == CLUSTER:
            outputs = {"eksCluster": child_ids.get("aws:eks/cluster:Cluster")}
        elif typ == MANAGED_NODE_GROUP:
            outputs = {"nodeGroup": child_ids.get("aws:eks/nodeGroup:NodeGroup")}
        resources.append(
            EngineResource(
                urn=record["urn"],
                type=typ,
                name=record["name"],
                parent=record["parent"],
                custom=False,
                protect=record["protect"],
                inputs={},
                outputs=outputs,
                dependencies=list(record["dependencies"]),
            )
        )
        for child in built:
            child_inputs = _wrap(child.inputs, "$", set(), refs)
            resources.append(
                EngineResource(
                    urn=child_urn(record["urn"], child.type, child.name),
                    type=child.type,
                    name=child.name,
                    parent=record["urn"],
                    custom=child.custom,
                    protect=record["protect"],
                    inputs=child_inputs,
                    outputs=child_inputs,
                    dependencies=list(child.dependencies),
                )
            )
    return resources


def to_struct(value: Mapping[str, Any]) -> Any:
    from google.protobuf import struct_pb2

    struct = struct_pb2.Struct()
    struct.update(dict(value))
    return struct


def analyze(
    resources: Sequence[EngineResource], config: Mapping[str, Any] | None = None
) -> list[Diagnostic]:
    """Every diagnostic of the pack: `Analyze` per resource, then `AnalyzeStack`.

    `config`: policy config as in `--policy-pack-config` (a level, or an object with
    `enforcementLevel` and rule properties), sent through `Configure` as the CLI does.
    """
    from pulumi.runtime import proto
    from pulumi_policy import EnforcementLevel
    from pulumi_policy.policy import _PolicyAnalyzerServicer

    from policy.rules.pack import PACK_NAME, PACK_VERSION, build_policies

    levels = {proto.MANDATORY: "mandatory", proto.ADVISORY: "advisory"}
    servicer = _PolicyAnalyzerServicer(
        PACK_NAME, PACK_VERSION, build_policies(), EnforcementLevel.ADVISORY
    )
    if config:
        request = proto.ConfigureAnalyzerRequest()
        for name, value in config.items():
            settings = dict(value) if isinstance(value, Mapping) else {"enforcementLevel": value}
            level = getattr(proto, str(settings.pop("enforcementLevel", "mandatory")).upper())
            entry = proto.PolicyConfig(enforcementLevel=level)
            entry.properties.update(settings)
            request.policyConfig[name].CopyFrom(entry)
        servicer.Configure(request, None)

    def options(resource: EngineResource) -> Any:
        return proto.AnalyzerResourceOptions(protect=resource.protect, parent=resource.parent)

    found = []
    for resource in resources:
        response = servicer.Analyze(
            proto.AnalyzeRequest(
                type=resource.type,
                properties=to_struct(resource.inputs),
                urn=resource.urn,
                name=resource.name,
                options=options(resource),
            ),
            None,
        )
        found += [(d, resource.urn) for d in response.diagnostics]
    stack = proto.AnalyzeStackRequest(
        resources=[
            proto.AnalyzerResource(
                type=r.type,
                properties=to_struct(r.outputs),
                urn=r.urn,
                name=r.name,
                options=options(r),
                parent=r.parent,
                dependencies=r.dependencies,
            )
            for r in resources
        ]
    )
    found += [(d, d.urn) for d in servicer.AnalyzeStack(stack, None).diagnostics]
    return [
        Diagnostic(
            d.policyName, levels.get(d.enforcementLevel, str(d.enforcementLevel)), urn, d.message
        )
        for d, urn in found
    ]


def policy_config(stack: str, root: Path) -> dict[str, Any]:
    """The stack's `--policy-pack-config` file (policy/config/<stack>.json), as `make preview`
    passes it; {} when there is none."""
    path = root / "policy" / "config" / f"{stack}.json"
    return dict(json.loads(path.read_text())) if path.is_file() else {}


def verdict(document: Mapping[str, Any], root: Path, preview: bool = False) -> list[str]:
    """The pack's verdict on a plan document, with the stack's policy config applied."""
    resources = engine_resources(document, preview)
    return verdict_lines(analyze(resources, policy_config(str(document["stack"]), root)))


def verdict_lines(diagnostics: Sequence[Diagnostic]) -> list[str]:
    """What `make plan` prints: a count, then one line per diagnostic, mandatory first."""
    mandatory = sum(1 for d in diagnostics if d.level == "mandatory")
    lines = [
        f"policy pack: {mandatory} mandatory, {len(diagnostics) - mandatory} advisory "
        "(as the engine would feed it this plan)"
    ]
    order = sorted(diagnostics, key=lambda d: (d.level != "mandatory", d.policy, d.message))
    lines += [f"  {d.line()}" for d in order]
    return lines
