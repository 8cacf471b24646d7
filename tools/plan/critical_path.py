"""How long `pulumi up` waits, modelled on the offline plan's dependency graph.

    python -m tools.plan.critical_path --stack dev [--max-ratio 1.05] [--durations more.json]

Reads `build/plan/<stack>/resources.json` (`make plan`) and gives every registration a typical
(p50) create time by its resource type (`DURATIONS`; a few Helm releases by name), then:

- **modelled**: the longest chain through every recorded dependency (and each resource's
  provider and the resources its inputs reference): what `pulumi up` waits for, since the
  engine starts a resource as soon as all it depends on is created;
- **lower bound**: the same with only what each resource *needs* to be created. Two facts make
  the difference: a remote component's outputs resolve only when all its children exist, while a
  dependent may need only some of them (`Step.early_for`: awsx's `Vpc` has its subnets
  long before its NAT gateways), and some edges are not needed to create (`ORDERING_ONLY`: a
  Kubernetes object needs no Karpenter NodePool, only to be deleted before it; the EKS control
  plane needs no NAT gateway).

It prints both paths, their ratio, and exits 1 when the ratio is above `--max-ratio`. The model
is data: a new resource type (an image snapshot builder, say) needs one `DURATIONS` entry, or a
`--durations` JSON file `{"<type>" or "<type>::<name>": seconds}`; an unknown type counts 0 s
and is listed, so a missing entry is visible rather than silently cheap.

Durations are the p50 of public `terraform apply` logs and vendor figures (the AWS calls are the
ones pulumi-aws makes): VPC 13-24 s, subnet 3-12 s, NAT gateway 1m25s-2m05s (7 logs), KMS key
12-29 s, EKS control plane 8m23s-11m23s (10 logs; AWS: "9 minutes or less on average", cited in
aws-samples/eks-workshop PR #1101), managed node group 1m28s-3m21s (8 logs), EKS add-ons
14-66 s, cert-manager Helm 20-60 s, DataLoad of 15 GB x 3 in 171 s (kserve
docs/samples/fluid/README.md@aaac4e2); Helm and Knative budgets from kserve
hack/setup/infra/*.sh. Estimates are marked `est.`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Step:
    """A resource type's typical create time."""

    seconds: float
    source: str
    early_for: Mapping[str, float] = field(default_factory=dict)
    """For a remote component: dependent type -> seconds after which the part that dependent
    needs exists (the component's outputs still resolve only at `seconds`)."""


DURATIONS: dict[str, Step] = {
    # Network (plain resources).
    "aws:ec2/vpc:Vpc": Step(20, "13-24 s, terraform apply logs"),
    "aws:ec2/subnet:Subnet": Step(8, "3-12 s, terraform apply logs"),
    "aws:ec2/internetGateway:InternetGateway": Step(5, "est., logs"),
    "aws:ec2/routeTable:RouteTable": Step(3, "est., logs"),
    "aws:ec2/routeTableAssociation:RouteTableAssociation": Step(2, "est., logs"),
    "aws:ec2/route:Route": Step(3, "est., logs"),
    "aws:ec2/eip:Eip": Step(2, "~1 s, logs"),
    "aws:ec2/natGateway:NatGateway": Step(105, "1m25s-2m05s, 7 terraform apply logs"),
    "aws:ec2/vpcEndpoint:VpcEndpoint": Step(60, "est.: gateway seconds, interface 1-2 min"),
    "aws:ec2/securityGroup:SecurityGroup": Step(4, "est., logs"),
    "aws:ec2/securityGroupRule:SecurityGroupRule": Step(2, "est."),
    "aws:ec2/tag:Tag": Step(1, "est."),
    # awsx's Vpc: VPC + subnets (~30 s) then the NAT gateways; outputs resolve at the end.
    # EKS needs the subnets, not the NAT gateways (nodes do: their egress).
    "awsx:ec2:Vpc": Step(
        140, "VPC + subnets + NAT gateway, logs", early_for={"eks:index:Cluster": 30}
    ),
    # Identity, keys, logs, queues, registries: API calls of seconds.
    "aws:kms/key:Key": Step(20, "12-29 s, 10 logs"),
    "aws:kms/alias:Alias": Step(1, "logs"),
    "aws:cloudwatch/logGroup:LogGroup": Step(2, "est."),
    "aws:cloudwatch/eventRule:EventRule": Step(2, "est."),
    "aws:cloudwatch/eventTarget:EventTarget": Step(2, "est."),
    "aws:sqs/queue:Queue": Step(25, "est.: SQS CreateQueue then attribute propagation"),
    "aws:sqs/queuePolicy:QueuePolicy": Step(2, "est."),
    "aws:iam/role:Role": Step(3, "1-7 s, logs"),
    "aws:iam/instanceProfile:InstanceProfile": Step(3, "est., like a role"),
    "aws:iam/rolePolicy:RolePolicy": Step(2, "est., like an attachment"),
    # The GPU image snapshot (issue 23): boot, pull ~13 GB from ECR, first full snapshot.
    "pulumi-python:dynamic/kserve-fluid:ImageSnapshot": Step(
        900, "est.: builder boot + pull ~3 min, first snapshot ~10 min; not measured"
    ),
    "aws:ebs/fastSnapshotRestore:FastSnapshotRestore": Step(
        360, "est.: optimizing takes 60 min per TiB (EBS user guide), 100 GiB"
    ),
    "aws:iam/policy:Policy": Step(3, "1-7 s, logs"),
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": Step(2, "1-7 s, logs"),
    "aws:iam/user:User": Step(2, "est."),
    "aws:iam/accessKey:AccessKey": Step(2, "est."),
    "aws:iam/userPolicyAttachment:UserPolicyAttachment": Step(2, "est."),
    "aws:ecr/repository:Repository": Step(2, "est."),
    "aws:ecr/lifecyclePolicy:LifecyclePolicy": Step(1, "est."),
    "aws:ecr/pullThroughCacheRule:PullThroughCacheRule": Step(2, "est."),
    "aws:ecr/repositoryCreationTemplate:RepositoryCreationTemplate": Step(2, "est."),
    "aws:s3/bucket:Bucket": Step(3, "est."),
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": Step(30, "est."),
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": Step(2, "est."),
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": Step(2, "est."),
    "aws:s3/bucketPolicy:BucketPolicy": Step(2, "est."),
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": (
        Step(2, "est.")
    ),
    "aws:s3/bucketVersioning:BucketVersioning": Step(3, "est."),
    # EKS.
    "eks:index:Cluster": Step(600, "8m23s-11m23s, 10 logs; AWS: 9 min on average"),
    "eks:index:ManagedNodeGroup": Step(150, "1m28s-3m21s, 8 logs"),
    "aws:eks/addon:Addon": Step(35, "14-66 s, logs"),
    "aws:eks/accessEntry:AccessEntry": Step(3, "est."),
    "aws:eks/podIdentityAssociation:PodIdentityAssociation": Step(3, "est."),
    "aws:ec2/launchTemplate:LaunchTemplate": Step(2, "est."),
    "pulumi:providers:kubernetes": Step(1, "no API call"),
    # Kubernetes objects: an API call, unless awaited.
    "kubernetes:core/v1:Namespace": Step(1, "API call"),
    "kubernetes:core/v1:ServiceAccount": Step(1, "API call"),
    "kubernetes:core/v1:Secret": Step(1, "API call"),
    "kubernetes:core/v1:ConfigMap": Step(1, "API call"),
    "kubernetes:rbac.authorization.k8s.io/v1:Role": Step(1, "API call"),
    "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding": Step(1, "API call"),
    "kubernetes:networking.k8s.io/v1:NetworkPolicy": Step(1, "API call"),
    "kubernetes:karpenter.sh/v1:NodePool": Step(2, "API call (needs no node)"),
    "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass": Step(2, "API call"),
    "kubernetes:helm.sh/v3:Release": Step(60, "est. 0.5-2 min, awaited"),
    "kubernetes:batch/v1:Job": Step(60, "est.: a Job awaited to completion"),
    "kubernetes:operator.knative.dev/v1beta1:KnativeServing": Step(
        180, "est. 2-3 min to Ready; kserve budget 300 s"
    ),
    "kubernetes:data.fluid.io/v1alpha1:Dataset": Step(60, "est. 1-3 min to Bound"),
    "kubernetes:data.fluid.io/v1alpha1:JindoRuntime": Step(60, "est., Jindo images pulled"),
    "kubernetes:data.fluid.io/v1alpha1:DataLoad": Step(1, "not awaited: its gate Job is"),
    "kubernetes:serving.kserve.io/v1alpha1:ServingRuntime": Step(1, "API call (webhook)"),
    "kubernetes:serving.kserve.io/v1beta1:InferenceService": Step(
        30, "est.: Ready with zero initial scale, no pod"
    ),
}
# Helm releases and Jobs whose time differs from their type's (by resource name).
NAMED_DURATIONS: dict[str, Step] = {
    "kubernetes:helm.sh/v3:Release::istio-base": Step(20, "CRDs only"),
    "kubernetes:helm.sh/v3:Release::kserve-crd": Step(20, "CRDs only"),
    "kubernetes:helm.sh/v3:Release::karpenter-crd": Step(20, "CRDs only"),
    "kubernetes:helm.sh/v3:Release::cert-manager": Step(40, "20-60 s, logs"),
    "kubernetes:helm.sh/v3:Release::istiod": Step(60, "est. 1-3 min (Istio)"),
    "kubernetes:helm.sh/v3:Release::istio-ingressgateway": Step(
        90, "est.: waits for the NLB hostname"
    ),
    "kubernetes:helm.sh/v3:Release::kserve": Step(120, "est. 1-3 min; budget 300 s"),
    "kubernetes:helm.sh/v3:Release::fluid": Step(90, "est. 1-2 min (CSI DaemonSet)"),
    "kubernetes:batch/v1:Job::wait-for-kserve-webhook": Step(30, "est.: webhook certificate"),
    # The serving image is ~10 GB: a registry-to-registry copy takes minutes (est.).
    "kubernetes:batch/v1:Job::images-copy-docker.io-kserve-huggingfaceserver": Step(
        240, "est.: 10 GB copied between registries"
    ),
    "kubernetes:batch/v1:Job::llama-31-8b-instruct-dataload-gate": Step(
        171, "15 GB x 3 replicas in 171 s (kserve fluid sample)"
    ),
}
ORDERING_ONLY: dict[str, frozenset[str]] = {
    # Dependent type prefix -> dependency types it does not need to be created (an edge to one
    # only orders destroy, or costs time for nothing). A NodePool is an object Karpenter reads;
    # creating one starts no node, and no Kubernetes object needs it to exist.
    "kubernetes:": frozenset({"kubernetes:karpenter.sh/v1:NodePool"}),
    # The control plane runs in AWS's account with ENIs in the given subnets; it needs no
    # egress from the VPC (docs.aws.amazon.com/eks/latest/userguide/network-reqs.html), the
    # nodes do.
    "eks:index:Cluster": frozenset(
        {"aws:ec2/natGateway:NatGateway", "aws:ec2/eip:Eip", "aws:ec2/route:Route"}
    ),
}


@dataclass(frozen=True)
class Path_:
    seconds: float
    chain: tuple[str, ...]


def load_durations(path: Path | None) -> dict[str, Step]:
    """DURATIONS and NAMED_DURATIONS, with a JSON file's `{"type[::name]": seconds}` on top."""
    found = {**DURATIONS, **NAMED_DURATIONS}
    if path is not None:
        extra = json.loads(path.read_text())
        found.update({key: Step(float(value), str(path)) for key, value in extra.items()})
    return found


def _step(resource: Mapping[str, Any], durations: Mapping[str, Step]) -> Step | None:
    named = durations.get(f"{resource['type']}::{resource['name']}")
    return named or durations.get(resource["type"])


def _provider_urn(resource: Mapping[str, Any]) -> str | None:
    reference = str(resource.get("provider") or "")
    return reference.rsplit("::", 1)[0] if reference else None


def _referenced_urns(value: Any) -> Iterable[str]:
    """URNs in a resource's inputs: resource references (tools/plan.py writes them as URNs),
    which a remote component awaits inside its provider (pulumi-eks's ManagedNodeGroup reads
    its `cluster`'s outputs) though the SDK records no dependency for them."""
    if isinstance(value, str) and value.startswith("urn:pulumi:"):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _referenced_urns(item)
    elif isinstance(value, list):
        for item in value:
            yield from _referenced_urns(item)


def _ordering_only(dependent: str, dependency: str) -> bool:
    return any(
        dependent.startswith(prefix) and dependency in types
        for prefix, types in ORDERING_ONLY.items()
    )


@dataclass(frozen=True)
class Report:
    modelled: Path_
    lower_bound: Path_
    unknown_types: tuple[str, ...]

    @property
    def ratio(self) -> float:
        return self.modelled.seconds / self.lower_bound.seconds


def critical_paths(resources: Sequence[Mapping[str, Any]], durations: Mapping[str, Step]) -> Report:
    """The modelled critical path and its lower bound (module docstring)."""
    by_urn = {r["urn"]: r for r in resources}
    unknown = sorted(
        {r["type"] for r in resources if r["custom"] or r["type"].count(":") == 2}
        - {r["type"] for r in resources if _step(r, durations) is not None}
        - {r["type"] for r in resources if not r["custom"] and r["type"].startswith("kserve-")}
    )

    def longest(needed_only: bool) -> Path_:
        memo: dict[str, Path_] = {}

        def finish(urn: str, dependent_type: str) -> Path_:
            key = f"{urn}|{dependent_type if needed_only else ''}"
            if key in memo:
                return memo[key]
            resource = by_urn[urn]
            step = _step(resource, durations)
            seconds = step.seconds if step else 0.0
            if needed_only and step and dependent_type in step.early_for:
                seconds = step.early_for[dependent_type]
            before = Path_(0.0, ())
            dependencies = [
                *resource["dependencies"],
                *_referenced_urns(resource.get("inputs") or {}),
            ]
            provider = _provider_urn(resource)
            if provider in by_urn:
                dependencies.append(provider)
            for dependency in dependencies:
                if dependency not in by_urn or dependency == urn:
                    continue
                if needed_only and _ordering_only(resource["type"], by_urn[dependency]["type"]):
                    continue
                candidate = finish(dependency, resource["type"])
                if candidate.seconds > before.seconds:
                    before = candidate
            label = f"{resource['type']} {resource['name']} ({seconds:g} s)"
            memo[key] = Path_(before.seconds + seconds, (*before.chain, label))
            return memo[key]

        ends = [finish(r["urn"], "") for r in resources]
        return max(ends, key=lambda p: (p.seconds, p.chain))

    return Report(longest(False), longest(True), tuple(unknown))


def _minutes(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


def render(report: Report, stack: str) -> str:
    lines = [f"critical path of `pulumi up` ({stack}, p50 create times):"]
    for title, path in (("modelled", report.modelled), ("lower bound", report.lower_bound)):
        lines.append(f"  {title}: {_minutes(path.seconds)} ({path.seconds:g} s)")
        lines += [f"    {step}" for step in path.chain]
    lines.append(f"  ratio: {report.ratio:.3f}")
    if report.unknown_types:
        lines.append("  no duration (counted 0 s): " + ", ".join(report.unknown_types))
    return "\n".join(lines) + "\n"


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.plan.critical_path", description=__doc__)
    parser.add_argument("--stack", default="dev")
    parser.add_argument("--plan", type=Path, help="resources.json (default build/plan/<stack>/)")
    parser.add_argument("--durations", type=Path, help='JSON {"type[::name]": seconds}')
    parser.add_argument("--max-ratio", type=float, default=1.05)
    args = parser.parse_args(list(argv) if argv is not None else None)
    plan = args.plan or Path("build/plan") / args.stack / "resources.json"
    if not plan.exists():
        print(
            f"critical_path: {plan} not found; run `make plan STACK={args.stack}`", file=sys.stderr
        )
        return 2
    report = critical_paths(
        json.loads(plan.read_text())["resources"], load_durations(args.durations)
    )
    sys.stdout.write(render(report, args.stack))
    if report.ratio > args.max_ratio:
        print(
            f"critical_path: the modelled path is {report.ratio:.3f} x its lower bound, above "
            f"--max-ratio {args.max_ratio:g}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
