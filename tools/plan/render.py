"""Offline plan: run the Pulumi program under mocks and write what it would create.

    python -m tools.plan --stack dev            # build/plan/dev/
    python -m tools.plan --stack dev --set networking=kourier --out /tmp/p

No Pulumi CLI, cloud account or network is needed. Writes `resources.json` (every registration
with inputs, dependencies and secret paths; secret values replaced by "[secret]"),
`manifests/NN-<kind>-<namespace>-<name>.yaml` (Kubernetes objects and Helm releases) and
`graph.dot`. One run per process: the tests call it as a subprocess per scenario
(pulumi/pulumi#6561 makes re-running a program in one process flaky).
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import json
import logging
import re
import runpy
import shutil
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from google.protobuf import json_format

from components.config.model import ConfigError
from tools.plan.placeholders import placeholder_values
from tools.plan.policy_feed import verdict
from tools.plan.stack_config import (
    ROOT,
    SECRET_PLACEHOLDER,
    load_stack_settings,
    settings_to_config,
)
from tools.plan.wire import ACCOUNT_ID, RESOURCE_SIG, SECRET_SIG, SIG_KEY, UNKNOWN

SECRET_SHOWN = "[secret]"

# Outputs the program reads from resources the mocks stand in for.
SECRET_OUTPUTS: dict[str, tuple[str, ...]] = {
    "aws:iam/accessKey:AccessKey": ("secret", "sesSmtpPasswordV4"),
}


@dataclass
class Registration:
    """One resource registration as the engine would see it."""

    urn: str
    type: str
    name: str
    parent: str
    provider: str
    dependencies: list[str]
    custom: bool
    protect: bool
    retain_on_delete: bool
    inputs: Any
    secret_paths: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "parent": self.parent,
            "provider": self.provider,
            "dependencies": self.dependencies,
            "custom": self.custom,
            "protect": self.protect,
            "retainOnDelete": self.retain_on_delete,
            "inputs": canonical(self.inputs),
            "secretPaths": self.secret_paths,
        }


def strip_secrets(value: Any, path: str, secret_paths: list[str]) -> Any:
    """Replace secret-wrapped values by "[secret]" and resource refs by their URN."""
    if isinstance(value, dict):
        if value.get(SIG_KEY) == SECRET_SIG:
            secret_paths.append(path)
            return SECRET_SHOWN
        if value.get(SIG_KEY) == RESOURCE_SIG:
            return {"$resource": value.get("urn", "")}
        return {k: strip_secrets(v, f"{path}.{k}", secret_paths) for k, v in value.items()}
    if isinstance(value, list):
        return [strip_secrets(v, f"{path}[{i}]", secret_paths) for i, v in enumerate(value)]
    if isinstance(value, float) and value.is_integer():
        return int(value)  # protobuf Struct carries every number as a double
    return value


def _refs_to_urns(value: Any) -> Any:
    if isinstance(value, dict):
        if value.get(SIG_KEY) == RESOURCE_SIG:
            return value.get("urn", "")
        return {k: _refs_to_urns(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_refs_to_urns(v) for v in value]
    return value


def _mock_outputs(
    typ: str, name: str, inputs: dict[str, Any], custom: bool, secret: str
) -> dict[str, Any]:
    """Plausible computed outputs for the types whose outputs the program reads.

    Custom resources echo their inputs (as providers do); remote components return only what is
    listed here, since their output names differ from their inputs.
    """
    outputs = dict(inputs) if custom else {}
    service = typ.split(":")[1].split("/")[0] if typ.count(":") >= 2 else "x"
    outputs.setdefault("arn", f"arn:aws:{service}:eu-central-1:{ACCOUNT_ID}:{name}")
    if typ == "eks:index:Cluster":
        cluster_name = inputs.get("name", name)
        issuer = f"oidc.eks.eu-central-1.amazonaws.com/id/{cluster_name.upper()}"
        kubeconfig = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": cluster_name, "cluster": {"server": "https://example.eks"}}],
        }
        outputs.update(
            kubeconfig=kubeconfig,
            kubeconfigJson=json.dumps(kubeconfig),
            oidcProviderArn=f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{issuer}",
            oidcProviderUrl=f"https://{issuer}",
            oidcIssuer=issuer,
            clusterSecurityGroupId="sg-cluster",
            nodeSecurityGroupId="sg-node",
        )
    elif typ == "aws:s3/bucket:Bucket":
        bucket = inputs.get("bucket") or f"{inputs.get('bucketPrefix', name)}20261124"
        outputs.update(bucket=bucket, arn=f"arn:aws:s3:::{bucket}")
    elif typ in ("aws:iam/role:Role", "aws:iam/user:User", "aws:iam/policy:Policy"):
        kind = typ.split(":")[-1].lower()
        outputs.setdefault("name", name)
        outputs["arn"] = f"arn:aws:iam::{ACCOUNT_ID}:{kind}/{outputs['name']}"
    elif typ == "aws:kms/key:Key":
        outputs.update(keyId=f"key-{name}")
    elif typ == "aws:ec2/launchTemplate:LaunchTemplate":
        outputs.update(latestVersion=1)
    elif typ.startswith("pulumi-python:dynamic/kserve-fluid:ImageSnapshot"):
        outputs["snapshotId"] = f"snap-{name}"
    elif typ == "kubernetes:core/v1:Service":
        outputs["status"] = {"loadBalancer": {"ingress": [{"hostname": f"{name}.elb.example"}]}}
    for key in SECRET_OUTPUTS.get(typ, ()):
        outputs[key] = {SIG_KEY: SECRET_SIG, "value": secret}
    return outputs


def preview_outputs(inputs: dict[str, Any], outputs: dict[str, Any]) -> dict[str, Any]:
    """What a first preview knows of a new resource's outputs: the inputs it was given, every
    computed output unknown (providers return unknowns for what they compute at create)."""
    return {key: value if key in inputs else UNKNOWN for key, value in outputs.items()}


def build_recorder(
    secret: str, preview: bool = False
) -> tuple[Any, list[Registration], dict[str, Any]]:
    """A mock monitor that records every registration with its options and dependencies.

    `preview`: as a first `pulumi preview` sees the program, every ID and computed output
    unknown, so inputs built from them arrive unknown.
    """
    import pulumi
    from pulumi.runtime.mocks import MockMonitor

    registrations: list[Registration] = []
    exports: dict[str, Any] = {}

    class Mocks(pulumi.runtime.Mocks):
        def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
            resource_id = args.resource_id or f"{args.name}-id"
            outputs = _mock_outputs(args.typ, args.name, args.inputs, bool(args.custom), secret)
            if preview:
                return "", preview_outputs(args.inputs, outputs)
            return resource_id, outputs

        def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list[tuple[str, str]]]:
            # No failures is an empty list: the mock monitor iterates it.
            if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
                arn = f"arn:aws:iam::{ACCOUNT_ID}:user/plan"
                return {"accountId": ACCOUNT_ID, "arn": arn, "userId": "plan"}, []
            if args.token == "aws:index/getRegion:getRegion":
                return {"name": "eu-central-1", "region": "eu-central-1"}, []
            if args.token == "aws:index/getAvailabilityZones:getAvailabilityZones":
                names = [f"eu-central-1{zone}" for zone in "abc"]
                return {"names": names, "zoneIds": [f"euc1-az{i}" for i in (1, 2, 3)]}, []
            if args.token == "aws:eks/getCluster:getCluster":
                return {"vpcConfig": {"clusterSecurityGroupId": "sg-eks-cluster"}}, []
            return {}, []

    class RecordingMonitor(MockMonitor):
        def RegisterResource(self, request: Any) -> Any:
            raw = json_format.MessageToDict(request.object, preserving_proto_field_name=True)
            # Resource references become plain URNs before the mock monitor deserializes them:
            # rehydrating a reference starts a lookup on the monitor thread's own event loop,
            # which the program's loop then awaits ("attached to a different loop", #6561).
            request.object.Clear()
            request.object.update(_refs_to_urns(raw))
            response = super().RegisterResource(request)
            if request.type != "pulumi:pulumi:Stack":
                secret_paths: list[str] = []
                inputs = strip_secrets(raw, "$", secret_paths)
                registrations.append(
                    Registration(
                        urn=response.urn,
                        type=request.type,
                        name=request.name,
                        parent=request.parent,
                        provider=request.provider,
                        dependencies=sorted(set(request.dependencies)),
                        custom=bool(request.custom),
                        protect=bool(getattr(request, "protect", False)),
                        retain_on_delete=bool(getattr(request, "retainOnDelete", False)),
                        inputs=inputs,
                        secret_paths=secret_paths,
                    )
                )
            return response

    return RecordingMonitor(Mocks()), registrations, exports


class EngineLog(logging.Handler):
    """What the program logs through the engine (pulumi.log.warn and co.), kept to print once:
    without a logger the mock engine hands it to the root logger, which prints it bare."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append((record.levelname.lower(), record.getMessage()))

    def logger(self) -> logging.Logger:
        logger = logging.getLogger("tools.plan.engine")
        logger.propagate = False
        logger.setLevel(logging.INFO)
        logger.handlers = [self]
        return logger


def run_program(
    project: str,
    stack: str,
    config: dict[str, str],
    secret_keys: list[str],
    secret: str,
    engine_log: EngineLog | None = None,
    preview: bool = False,
) -> tuple[list[Registration], dict[str, Any]]:
    """Run `__main__.py` once under mocks; return registrations and resolved stack outputs."""
    import pulumi

    asyncio.set_event_loop(asyncio.new_event_loop())  # Python 3.14: no implicit loop (#24338)
    monitor, registrations, exports = build_recorder(secret, preview)
    pulumi.runtime.set_mocks(
        monitor.mocks,
        project=project,
        stack=stack,
        preview=preview,
        monitor=monitor,
        logger=(engine_log or EngineLog()).logger(),
    )
    pulumi.runtime.set_all_config(config, secret_keys)
    captured: dict[str, Any] = {}
    pulumi.export = lambda name, value: captured.__setitem__(name, value)
    resolved: dict[str, Any] = {}

    async def resolve_exports() -> None:
        for name, value in captured.items():
            output = pulumi.Output.from_input(value)
            plain = await output.future()
            resolved[name] = SECRET_SHOWN if await output.is_secret() else plain

    @pulumi.runtime.test
    def program() -> Any:
        sys.path.insert(0, str(ROOT))
        runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")
        return pulumi.Output.from_input(asyncio.ensure_future(resolve_exports()))

    program()
    exports.update(resolved)
    return registrations, exports


def _k8s_kind(typ: str) -> str | None:
    match = re.match(r"^kubernetes:([\w.-]+/)?[\w.]+:(\w+)$", typ)
    return match.group(2) if match else None


def creation_order(registrations: list[Registration]) -> list[Registration]:
    """Registrations in dependency order (parents and dependencies first), ties broken by URN.

    The engine registers resources as their inputs resolve, so the raw order changes from run to
    run; this order is a function of the graph alone, so two plans diff cleanly.
    """
    by_urn = {reg.urn: reg for reg in registrations}
    waits_on = {
        reg.urn: {u for u in [reg.parent, *reg.dependencies] if u in by_urn and u != reg.urn}
        for reg in registrations
    }
    ready = [urn for urn, deps in waits_on.items() if not deps]
    heapq.heapify(ready)
    ordered: list[Registration] = []
    while ready:
        urn = heapq.heappop(ready)
        ordered.append(by_urn[urn])
        for other, deps in waits_on.items():
            if urn in deps:
                deps.discard(urn)
                if not deps:
                    heapq.heappush(ready, other)
    leftover = sorted(set(by_urn) - {reg.urn for reg in ordered})  # a cycle: keep URN order
    return ordered + [by_urn[urn] for urn in leftover]


_LEADING_KEYS = ("apiVersion", "kind", "metadata", "spec")


def canonical(value: Any) -> Any:
    """Mappings with Kubernetes' usual leading keys (apiVersion, kind, metadata, spec) first and
    the rest sorted, at every level; lists keep their order (it can matter)."""
    if isinstance(value, dict):
        keys = [k for k in _LEADING_KEYS if k in value]
        keys += sorted(k for k in value if k not in _LEADING_KEYS)
        return {k: canonical(value[k]) for k in keys}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


def manifest_documents(
    registrations: list[Registration],
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(file stem, document) for each Kubernetes object and Helm release, in the given order."""
    index = 0
    for reg in registrations:
        kind = _k8s_kind(reg.type)
        if kind is None or (not reg.custom and reg.type != "kubernetes:helm.sh/v4:Chart"):
            continue
        inputs = reg.inputs
        if reg.type in ("kubernetes:helm.sh/v3:Release", "kubernetes:helm.sh/v4:Chart"):
            repo = inputs.get("repositoryOpts", {}).get("repo", "")
            document = {
                "helmRelease": inputs.get("name", reg.name),
                "namespace": inputs.get("namespace", ""),
                "chart": inputs.get("chart"),
                "version": inputs.get("version"),
                "repository": repo,
                "values": canonical(inputs.get("values", {})),
            }
            namespace, name = document["namespace"], document["helmRelease"]
        else:
            document = canonical({k: v for k, v in inputs.items() if k in _OBJECT_FIELDS})
            metadata = inputs.get("metadata")
            metadata = metadata if isinstance(metadata, dict) else {}  # unknown in a preview
            namespace, name = metadata.get("namespace", ""), metadata.get("name", reg.name)
        index += 1
        stem = "-".join(p for p in (f"{index:02d}", kind.lower(), namespace, name) if p)
        yield stem, document


_OBJECT_FIELDS = (
    "apiVersion",
    "kind",
    "metadata",
    "spec",
    "data",
    "stringData",
    "type",
    "rules",
    "roleRef",
    "subjects",
    "secrets",
    "webhooks",
)


def graph_dot(registrations: list[Registration]) -> str:
    """The dependency graph: an edge A -> B means A depends on B (B is created first)."""
    lines = ["digraph plan {", "  rankdir=LR;", "  node [shape=box, fontsize=10];"]
    for reg in registrations:
        lines.append(f'  "{reg.urn}" [label="{reg.type}\\n{reg.name}"];')
    for reg in registrations:
        for dependency in reg.dependencies:
            lines.append(f'  "{reg.urn}" -> "{dependency}";')
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_plan(
    out: Path,
    project: str,
    stack: str,
    registrations: list[Registration],
    outputs: dict[str, Any],
    preview: bool = False,
) -> None:
    """Write the plan folder; `resources.json` also holds the policy pack's verdict on it
    (tools/plan/policy_feed.py), so the plan diff of a pull request shows policy results."""
    if out.exists():
        shutil.rmtree(out)
    (out / "manifests").mkdir(parents=True)
    registrations = creation_order(registrations)
    document: dict[str, Any] = {
        "project": project,
        "stack": stack,
        "resources": [r.as_json() for r in registrations],
        "outputs": canonical(outputs),
    }
    document["policy"] = verdict(document, ROOT, preview)
    (out / "resources.json").write_text(json.dumps(document, indent=2, sort_keys=False) + "\n")
    for stem, manifest in manifest_documents(registrations):
        (out / "manifests" / f"{stem}.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    (out / "graph.dot").write_text(graph_dot(registrations))


def _parse_sets(values: list[str]) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--set {item!r}: use KEY=VALUE (VALUE as YAML/JSON)")
        parsed[key] = yaml.safe_load(value)
    return parsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stack", default="dev", help="stack name (Pulumi.<stack>.yaml)")
    parser.add_argument("--stack-file", type=Path, help="use this stack file instead")
    parser.add_argument("--out", type=Path, help="output folder (default build/plan/<stack>)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key (VALUE parsed as YAML)",
    )
    parser.add_argument(
        "--secret", action="append", default=[], metavar="KEY=VALUE", help="set a secret config key"
    )
    parser.add_argument(
        "--secret-value",
        default=SECRET_PLACEHOLDER,
        help="value the mocks give secret outputs (leak tests use a sentinel)",
    )
    parser.add_argument(
        "--preview",
        action="store_true",
        help="render as a first preview sees it: IDs and computed outputs unknown",
    )
    args = parser.parse_args(argv)
    out = args.out or ROOT / "build" / "plan" / args.stack
    # A failed run leaves no earlier plan of this stack behind to be mistaken for this one.
    shutil.rmtree(out, ignore_errors=True)

    try:
        settings = load_stack_settings(
            args.stack,
            stack_file=args.stack_file,
            secret_value=args.secret_value,
            overrides=_parse_sets(args.set),
            secrets={k: str(v) for k, v in _parse_sets(args.secret).items()},
        )
    except ConfigError as error:
        for problem in error.problems:
            print(f"plan: {problem}", file=sys.stderr)
        return 2
    config, secret_keys = dict(settings.config), list(settings.secret_keys)
    try:
        placeholders = placeholder_values(settings_to_config(settings))
    except ConfigError:
        placeholders = []  # the program reports the problems itself, before any resource

    import pulumi

    engine_log = EngineLog()
    try:
        registrations, outputs = run_program(
            settings.project,
            args.stack,
            config,
            secret_keys,
            args.secret_value,
            engine_log,
            args.preview,
        )
    except pulumi.RunError as error:
        print(str(error), file=sys.stderr)
        return 2
    write_plan(out, settings.project, args.stack, registrations, outputs, args.preview)
    counts = Counter(r.type for r in registrations)
    print(f"plan for {settings.project}/{args.stack}: {len(registrations)} resources -> {out}")
    for typ, count in sorted(counts.items()):
        print(f"  {count:3d}  {typ}")
    print(f"  outputs: {', '.join(sorted(outputs))}")
    report = outputs.get("cacheThroughput")
    print_cache_throughput(report)
    print_cold_start_budget(outputs.get("coldStartBudget"))
    print_vpc_endpoints(outputs.get("vpcEndpoints"))
    print_loader_times(outputs.get("loaderTimes"))
    shown = set(report.get("warnings", [])) if isinstance(report, dict) else set()
    for level, message in engine_log.messages:
        if message not in shown:
            print(f"plan: {level}: {message}", file=sys.stderr)
    print_image_inventory(settings)
    for line in json.loads((out / "resources.json").read_text())["policy"]:
        print(line)
    for line in placeholders:
        print(f"plan: placeholder to replace before a real deploy: {line}", file=sys.stderr)
    return 0


def print_image_inventory(settings: Any) -> None:
    """Every image a pod of the stack runs, what pods pull, and how it reaches the region's ECR
    (components/image_mirror.py; tests/test_image_inventory.py checks it against the charts)."""
    from components.image_mirror import ImageMirror, MirrorSettings, inventory

    try:
        config = settings_to_config(settings)
    except ConfigError:
        return
    mirror = ImageMirror.for_stack(
        MirrorSettings.of(config), ACCOUNT_ID, config.region, config.name
    )
    lines = inventory(mirror)
    print(f"images ({len(lines)}; pulled from -> how it gets there):")
    for line in lines:
        print(f"  {line.upstream}  [{line.used_by}]")
        print(f"    {line.pulled} -> {line.route}")


def print_cache_throughput(report: Any) -> None:
    """The stack's `cacheThroughput` output: one line per model (components/cache/throughput.py)."""
    if not isinstance(report, dict):
        return
    print(f"cache -> one GPU node ({report.get('assumption', '')}):")
    for line in report.get("lines", []):
        print(f"  {line}")
    for warning in report.get("warnings", []):
        print(f"  warning: {warning}")


def print_cold_start_budget(report: Any) -> None:
    """The stack's `coldStartBudget` output (components/karpenter/cold_start_budget.py): per
    model and loader the cold-node and warm-slot seconds by phase, sources, costs, warnings."""
    if not isinstance(report, dict):
        return
    print("pending pod -> first token, low-high seconds (node, image, weights, engine):")
    for line in report.get("lines", []):
        print(f"  {line}")
    for phase, source in sorted(report.get("sources", {}).items()):
        print(f"  source {phase}: {source}")
    for model, loaders in sorted(report.get("models", {}).items()):
        for loader, budgets in sorted(loaders.items()):
            weights = budgets["cold"]["phases"]["weights"]["source"]
            print(f"  source weights {model} [{loader}]: {weights}")
    for line in report.get("costs", []):
        print(f"  cost: {line}")
    for warning in report.get("warnings", []):
        print(f"  warning: {warning}")


def print_vpc_endpoints(report: Any) -> None:
    """The stack's `vpcEndpoints` output: which endpoints exist and what they cost per hour."""
    if not isinstance(report, dict):
        return
    interface = ", ".join(report.get("interface", [])) or "none (vpcInterfaceEndpoints: false)"
    print(
        f"VPC endpoints: gateway {', '.join(report.get('gateway', []))} (free); interface "
        f"{interface}: ${report.get('interfaceUsdPerHour', 0):.2f}/hour plus $0.01/GB"
    )


def print_loader_times(report: Any) -> None:
    """The stack's `loaderTimes` output: per model, a line per loader (components/loaders.py)."""
    if not isinstance(report, dict):
        return
    print(f"loaders -> one GPU node ({'; '.join(report.get('assumptions', []))}):")
    for line in report.get("lines", []):
        print(f"  {line}")


if __name__ == "__main__":
    sys.exit(main())
