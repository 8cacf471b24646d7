"""Read-only AWS checks to run before a long `pulumi up`.

`pulumi up` of this stack takes 30-40 minutes, and the usual ways it fails are known before it
starts: a node type not sold in the region's zones, a vCPU quota too small for the GPU node group,
an EKS version the region does not offer, a bucket name taken by another account, or an identity
that may not create IAM users. Each check here is one small function that takes an `AwsClients`
and returns a `Check(name, status, detail)`; none of them changes anything in the account.

    python -m tools.operate.preflight --stack dev [--region eu-central-1] [--profile NAME]
                              [--endpoint-url URL] [--service-endpoint SERVICE=URL ...]

Exit status: 0 when every check passed or was skipped, 1 when one failed, 2 on a usage or config
error. A check whose API is not available at the endpoint (an emulator such as moto, or a
partition without it) is reported as `skip` with the reason, never as `fail`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TextIO

import boto3
from botocore.config import Config as BotocoreConfig
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, ProfileNotFound
from botocore.parsers import ResponseParserError

from components.config.instance_types import CATALOGUE
from components.config.model import GpuNodesConfig, StackConfig
from components.image_mirror import MirrorSettings
from tools.plan.stack_config import add_stack_arguments, load_config_for_tool

Status = Literal["pass", "fail", "skip"]

MIN_ZONES_PER_INSTANCE_TYPE = 2
"""EKS wants subnets in two zones; a node group whose type is sold in one zone has no spare."""

# Service Quotas codes of the EC2 vCPU limits (service code "ec2"), by instance class and
# purchase option. The running-instances quotas count vCPUs, not instances.
QUOTA_NAMES: dict[str, str] = {
    "L-1216C47A": "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances",
    "L-DB2E81BA": "Running On-Demand G and VT instances",
    "L-417A185B": "Running On-Demand P instances",
    "L-34B43A08": "All Standard (A, C, D, H, I, M, R, T, Z) Spot Instance Requests",
    "L-3819A6DF": "All G and VT Spot Instance Requests",
    "L-7212CCBC": "All P Spot Instance Requests",
}
_QUOTA_CODES: dict[tuple[str, str], str] = {
    ("standard", "ON_DEMAND"): "L-1216C47A",
    ("g-vt", "ON_DEMAND"): "L-DB2E81BA",
    ("p", "ON_DEMAND"): "L-417A185B",
    ("standard", "SPOT"): "L-34B43A08",
    ("g-vt", "SPOT"): "L-3819A6DF",
    ("p", "SPOT"): "L-7212CCBC",
}

REQUIRED_ACTIONS: tuple[str, ...] = (
    # Network and cluster (layer 1).
    "ec2:CreateVpc",
    "ec2:CreateSubnet",
    "ec2:CreateNatGateway",
    "ec2:AllocateAddress",
    "ec2:CreateLaunchTemplate",
    "eks:CreateCluster",
    "eks:CreateNodegroup",
    "eks:CreateAccessEntry",
    "kms:CreateKey",
    "logs:CreateLogGroup",
    "iam:CreateRole",
    "iam:PassRole",
    "iam:CreateOpenIDConnectProvider",
    # Model store (layer 2): the bucket and JindoFS's read-only access key.
    "s3:CreateBucket",
    "s3:PutBucketPolicy",
    "iam:CreatePolicy",
    "iam:CreateUser",
    "iam:CreateAccessKey",
)
"""Actions `pulumi up` performs that an identity is most often missing (simulated, not run)."""
KARPENTER_ACTIONS: tuple[str, ...] = (
    "sqs:CreateQueue",
    "events:PutRule",
    "eks:CreatePodIdentityAssociation",
    "eks:CreateAddon",
)
"""What Karpenter's AWS side adds (components/karpenter/component.py)."""

# Error codes meaning "this endpoint does not implement the operation" rather than "no".
_UNSUPPORTED_CODES = frozenset(
    {"UnknownOperationException", "InvalidAction", "NotImplemented", "NotImplementedError"}
)


@dataclass(frozen=True)
class Check:
    """One line of the report."""

    name: str
    status: Status
    detail: str


class AwsClients:
    """boto3 clients of one session and region, with optional endpoint overrides.

    `endpoint_url` sends every service to one endpoint (moto, LocalStack); `service_endpoints`
    overrides it per service name (for example `{"service-quotas": "http://127.0.0.1:9000"}`).
    """

    def __init__(
        self,
        session: boto3.Session,
        region: str,
        endpoint_url: str | None = None,
        service_endpoints: Mapping[str, str] | None = None,
        max_attempts: int = 3,
    ) -> None:
        self.session = session
        self.region = region
        self.endpoint_url = endpoint_url
        self.service_endpoints = dict(service_endpoints or {})
        self._config = BotocoreConfig(retries={"max_attempts": max_attempts, "mode": "standard"})
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        if service not in self._clients:
            endpoint = self.service_endpoints.get(service, self.endpoint_url)
            self._clients[service] = self.session.client(
                service, region_name=self.region, endpoint_url=endpoint, config=self._config
            )
        return self._clients[service]


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _http_status(error: ClientError) -> int:
    return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def _unsupported(error: Exception) -> bool:
    """The endpoint does not implement the operation (rather than answering "no").

    An AWS error always has a named code; a bare HTTP status as the code means the endpoint
    answered without an AWS error body, as emulators do for operations they lack.
    """
    if not isinstance(error, ClientError):
        return False
    code = _error_code(error)
    return code in _UNSUPPORTED_CODES or code.isdigit()


def _describe(error: Exception) -> str:
    """One line naming the operation and AWS error code, without an emulator's HTML page."""
    if isinstance(error, ClientError):
        code = _error_code(error)
        if code.isdigit():
            return f"{error.operation_name}: HTTP {code} without an AWS error"
        message = str(error.response.get("Error", {}).get("Message", "")).strip()
        return f"{error.operation_name}: {code}" + (f" ({message})" if message else "")
    if isinstance(error, ResponseParserError):
        return "the endpoint's answer is not an AWS response"
    return f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"


def _failure(name: str, error: Exception) -> Check:
    if isinstance(error, NoCredentialsError):
        return Check(
            name, "fail", "no AWS credentials found (set AWS_PROFILE or run aws sso login)"
        )
    return Check(name, "fail", _describe(error))


# --- credentials -----------------------------------------------------------------------------


def check_credentials(clients: AwsClients) -> Check:
    """Who `pulumi up` will run as; every other check needs working credentials."""
    name = "credentials"
    try:
        identity = clients.client("sts").get_caller_identity()
    except (ClientError, BotoCoreError) as error:
        return _failure(name, error)
    return Check(name, "pass", f"{identity['Arn']} (account {identity['Account']})")


# --- instance types --------------------------------------------------------------------------


def stack_zones(clients: AwsClients, zone_count: int) -> list[str]:
    """The zones the VPC will span: awsx takes the region's first `zone_count` available ones."""
    response = clients.client("ec2").describe_availability_zones(
        Filters=[
            {"Name": "state", "Values": ["available"]},
            {"Name": "zone-type", "Values": ["availability-zone"]},
        ]
    )
    names = sorted(zone["ZoneName"] for zone in response["AvailabilityZones"])
    return names[:zone_count]


def offering_zones(clients: AwsClients, instance_type: str) -> list[str]:
    """Every zone of the region that sells `instance_type`, sorted."""
    paginator = clients.client("ec2").get_paginator("describe_instance_type_offerings")
    zones: set[str] = set()
    for page in paginator.paginate(
        LocationType="availability-zone",
        Filters=[{"Name": "instance-type", "Values": [instance_type]}],
    ):
        zones.update(offer["Location"] for offer in page["InstanceTypeOfferings"])
    return sorted(zones)


def _zones_offering(
    clients: AwsClients, instance_type: str, zone_count: int
) -> tuple[list[str], list[str], list[str]]:
    """The stack's zones, the region's zones selling `instance_type`, and their overlap."""
    zones = stack_zones(clients, zone_count)
    offered = offering_zones(clients, instance_type)
    return zones, offered, [zone for zone in zones if zone in offered]


def check_instance_type(
    clients: AwsClients, config_key: str, instance_type: str, zone_count: int
) -> Check:
    """`instance_type` is sold in at least two of the zones the stack's subnets use."""
    name = f"instance type {instance_type}"
    try:
        zones, offered, usable = _zones_offering(clients, instance_type, zone_count)
    except (ClientError, BotoCoreError) as error:
        return _failure(name, error)
    if len(usable) >= MIN_ZONES_PER_INSTANCE_TYPE:
        return Check(
            name,
            "pass",
            f"{config_key}: offered in {len(usable)} of the stack's {len(zones)} zones "
            f"({', '.join(usable)})",
        )
    where = f" ({', '.join(usable)})" if usable else ""
    elsewhere = [zone for zone in offered if zone not in zones]
    hint = (
        f"; the region also offers it in {', '.join(elsewhere)}"
        if elsewhere
        else "; pick another instance type or region"
    )
    return Check(
        name,
        "fail",
        f"{config_key}: {instance_type} is offered in {len(usable)} of the stack's "
        f"{len(zones)} zones in {clients.region}{where}; EKS node groups need it in at least "
        f"{MIN_ZONES_PER_INSTANCE_TYPE}{hint}",
    )


def check_karpenter_instance_type(
    clients: AwsClients, instance_type: str, zone_count: int
) -> Check:
    """A type of the NodePool is sold in at least one zone of the private subnets: Karpenter
    launches in any subnet its EC2NodeClass selects, so one zone suffices to start a node."""
    name = f"instance type {instance_type}"
    key = "gpuNodes.instanceTypes"
    try:
        zones, offered, usable = _zones_offering(clients, instance_type, zone_count)
    except (ClientError, BotoCoreError) as error:
        return _failure(name, error)
    if usable:
        return Check(
            name,
            "pass",
            f"{key}: offered in {len(usable)} of the private subnets' {len(zones)} zones "
            f"({', '.join(usable)})",
        )
    elsewhere = [zone for zone in offered if zone not in zones]
    hint = (
        f"; the region offers it only in {', '.join(elsewhere)}"
        if elsewhere
        else "; drop it from the list or pick another region"
    )
    return Check(
        name,
        "fail",
        f"{key}: {instance_type} is offered in none of the private subnets' {len(zones)} zones "
        f"in {clients.region} ({', '.join(zones)}), so Karpenter can never launch it{hint}",
    )


SPOT_SERVICE_LINKED_ROLE = "AWSServiceRoleForEC2Spot"


def check_spot_service_linked_role(clients: AwsClients) -> Check:
    """Spot GPU nodes under Karpenter need the account's EC2 Spot service-linked role.

    Karpenter's controller policy has no `iam:CreateServiceLinkedRole`, so in an account that
    never ran Spot every launch fails with `AuthFailure.ServiceLinkedRoleCreationNotPermitted`
    (aws/karpenter-provider-aws:website/content/en/docs/troubleshooting.md@v1.14.1; the guide
    creates it once: getting-started-with-karpenter/scripts/step06-add-spot-role.sh@v1.14.1).
    The program does not create it: an account-wide role outlives every stack.
    """
    name = "spot service-linked role"
    try:
        clients.client("iam").get_role(RoleName=SPOT_SERVICE_LINKED_ROLE)
    except ClientError as error:
        if _error_code(error) != "NoSuchEntity":
            return _failure(name, error)
        return Check(
            name,
            "fail",
            f"gpuNodes.capacityType: SPOT needs the role {SPOT_SERVICE_LINKED_ROLE}, which "
            "Karpenter may not create; run once per account: aws iam create-service-linked-role "
            "--aws-service-name spot.amazonaws.com",
        )
    except BotoCoreError as error:
        return _failure(name, error)
    return Check(name, "pass", f"gpuNodes.capacityType: SPOT: {SPOT_SERVICE_LINKED_ROLE} exists")


# --- vCPU quotas -----------------------------------------------------------------------------


def instance_class(instance_type: str) -> str | None:
    """The EC2 quota class of a type: "standard", "g-vt" or "p"; None for the others."""
    family = instance_type.split(".", 1)[0]
    if family.startswith(("inf", "trn", "dl")):
        return None
    if family.startswith(("g", "vt")):
        return "g-vt"
    if family.startswith("p"):
        return "p"
    if family[:1] in "acdhimrtz":
        return "standard"
    return None


@dataclass(frozen=True)
class QuotaDemand:
    """vCPUs one node group may run at its maximum size, and the quota they count against."""

    config_key: str
    instance_type: str
    max_size: int
    vcpus_per_instance: int
    quota_code: str
    limit_key: str = "maxSize"
    """The key that bounds the node count (a node group's maxSize, Karpenter's gpuLimit)."""
    limit: int | None = None
    """Its value when it is not the node count itself (GPUs for gpuLimit)."""

    @property
    def vcpus(self) -> int:
        return self.max_size * self.vcpus_per_instance

    @property
    def limit_setting(self) -> str:
        return f"{self.config_key}.{self.limit_key}"

    def describe(self) -> str:
        if self.limit is not None:
            return (
                f"{self.limit_setting} {self.limit} = {self.max_size} x {self.instance_type} "
                f"{self.vcpus_per_instance} vCPUs"
            )
        return (
            f"{self.limit_setting} {self.max_size} x {self.instance_type} "
            f"{self.vcpus_per_instance} vCPUs"
        )


def karpenter_quota_demand(settings: GpuNodesConfig) -> QuotaDemand | None:
    """vCPUs Karpenter may run at the GPU limit: the listed type that needs the most of them
    (gpuLimit // its GPUs nodes), since Karpenter picks among the types at launch time."""
    worst: QuotaDemand | None = None
    for name in settings.instance_types:
        known = CATALOGUE.get(name)
        kind = instance_class(name)
        if known is None or kind is None or not known.gpus:
            continue
        demand = QuotaDemand(
            "gpuNodes",
            name,
            settings.gpu_limit // known.gpus,
            known.vcpus,
            _QUOTA_CODES[(kind, settings.capacity_type)],
            limit_key="gpuLimit",
            limit=settings.gpu_limit,
        )
        if worst is None or demand.vcpus > worst.vcpus:
            worst = demand
    return worst


def quota_demands(config: StackConfig) -> tuple[list[QuotaDemand], list[Check]]:
    """The vCPU demand per node group (and of Karpenter's GPU limit), and a skip for any whose
    quota is unknown."""
    groups: tuple[tuple[str, str, int, str], ...] = (
        ("dataNodeGroup", config.data_node_group.instance_type,
         config.data_node_group.max_size, "ON_DEMAND"),
    )  # fmt: skip
    karpenter: list[QuotaDemand] = []
    if config.gpu_nodes.karpenter:
        demand = karpenter_quota_demand(config.gpu_nodes)
        karpenter = [demand] if demand is not None else []
    else:
        groups += (
            ("gpuNodes", config.gpu_nodes.node_group_instance_type,
             config.gpu_nodes.max_size, config.gpu_nodes.capacity_type),
        )  # fmt: skip
    demands: list[QuotaDemand] = []
    skipped: list[Check] = []
    for key, instance_type, max_size, capacity in groups:
        kind = instance_class(instance_type)
        known = CATALOGUE.get(instance_type)
        if kind is None or known is None:
            skipped.append(
                Check(
                    f"vCPU quota for {instance_type}",
                    "skip",
                    f"{key}.instanceType: no vCPU count or quota code known for {instance_type}",
                )
            )
            continue
        demands.append(
            QuotaDemand(key, instance_type, max_size, known.vcpus, _QUOTA_CODES[(kind, capacity)])
        )
    return demands + karpenter, skipped


def _quota_value(clients: AwsClients, code: str) -> tuple[float, str]:
    """The account's value of an EC2 quota, falling back to the AWS default."""
    quotas = clients.client("service-quotas")
    try:
        quota = quotas.get_service_quota(ServiceCode="ec2", QuotaCode=code)["Quota"]
        return float(quota["Value"]), ""
    except ClientError as error:
        if _error_code(error) != "NoSuchResourceException":
            raise
    quota = quotas.get_aws_default_service_quota(ServiceCode="ec2", QuotaCode=code)["Quota"]
    return float(quota["Value"]), " (the AWS default; no account value was returned)"


def check_vcpu_quota(clients: AwsClients, code: str, demands: Sequence[QuotaDemand]) -> Check:
    """One EC2 vCPU quota covers the node groups that count against it at their maximum size."""
    name = f"vCPU quota {code}"
    needed = sum(demand.vcpus for demand in demands)
    how = " + ".join(demand.describe() for demand in demands)
    title = QUOTA_NAMES[code]
    try:
        value, source = _quota_value(clients, code)
    except (ClientError, BotoCoreError) as error:
        if isinstance(error, ClientError) and (
            _unsupported(error) or _error_code(error) == "NoSuchResourceException"
        ):
            return Check(
                name,
                "skip",
                f'"{title}" cannot be read here ({_describe(error)}); '
                f"it must allow {needed} vCPUs ({how})",
            )
        if isinstance(error, ClientError) and _error_code(error) == "AccessDeniedException":
            return Check(
                name,
                "skip",
                "the caller may not read Service Quotas (servicequotas:GetServiceQuota); "
                f'"{title}" must allow {needed} vCPUs ({how})',
            )
        return _failure(name, error)
    limit = f"{value:g}"
    if needed <= value:
        return Check(name, "pass", f'"{title}" is {limit} vCPUs{source}; needs {needed} ({how})')
    keys = " or ".join(demand.limit_setting for demand in demands)
    return Check(
        name,
        "fail",
        f'"{title}" is {limit} vCPUs{source} in {clients.region}; needs {needed} ({how}); '
        f"request an increase (Service Quotas, ec2 {code}) or lower {keys}",
    )


def check_vcpu_quotas(clients: AwsClients, config: StackConfig) -> list[Check]:
    demands, checks = quota_demands(config)
    by_code: dict[str, list[QuotaDemand]] = {}
    for demand in demands:
        by_code.setdefault(demand.quota_code, []).append(demand)
    checks.extend(check_vcpu_quota(clients, code, group) for code, group in by_code.items())
    return checks


# --- EKS version -----------------------------------------------------------------------------


def check_eks_version(clients: AwsClients, version: str) -> Check:
    """The region offers `kubernetesVersion` for new clusters."""
    name = f"EKS version {version}"
    eks = clients.client("eks")
    try:
        response = eks.describe_cluster_versions(clusterVersions=[version], includeAll=True)
    except (ClientError, BotoCoreError) as error:
        if not _unsupported(error):
            return _failure(name, error)
        return _check_eks_version_by_addons(clients, name, version, _describe(error))
    for entry in response.get("clusterVersions", []):
        if entry.get("clusterVersion") != version:
            continue
        status = str(entry.get("versionStatus") or entry.get("status") or "")
        if status == "UNSUPPORTED":
            return Check(
                name,
                "fail",
                f"kubernetesVersion: {version} is no longer supported by EKS in {clients.region}",
            )
        if status == "EXTENDED_SUPPORT":
            return Check(
                name,
                "pass",
                f"kubernetesVersion: {version} is in extended support (extra hourly cost)"
                f"{_until(entry.get('endOfExtendedSupportDate'))}",
            )
        return Check(
            name,
            "pass",
            f"kubernetesVersion: {version} is in standard support"
            f"{_until(entry.get('endOfStandardSupportDate'))}",
        )
    return Check(name, "fail", f"kubernetesVersion: {version} is not offered in {clients.region}")


def _until(value: Any) -> str:
    return f" until {value.date().isoformat()}" if hasattr(value, "date") else ""


def _check_eks_version_by_addons(clients: AwsClients, name: str, version: str, why: str) -> Check:
    try:
        paginator = clients.client("eks").get_paginator("describe_addon_versions")
        compatible = any(
            compatibility.get("clusterVersion") == version
            for page in paginator.paginate(kubernetesVersion=version, addonName="vpc-cni")
            for addon in page.get("addons", [])
            for addon_version in addon.get("addonVersions", [])
            for compatibility in addon_version.get("compatibilities", [])
        )
    except (ClientError, BotoCoreError) as error:
        if _unsupported(error):
            return Check(
                name,
                "skip",
                f"neither DescribeClusterVersions nor DescribeAddonVersions is available "
                f"here ({why}; {_describe(error)})",
            )
        return _failure(name, error)
    if compatible:
        return Check(name, "pass", f"kubernetesVersion: the vpc-cni add-on supports {version}")
    return Check(
        name,
        "fail",
        f"kubernetesVersion: no vpc-cni add-on version supports {version} in {clients.region}; "
        "EKS does not offer it there",
    )


# --- model bucket ----------------------------------------------------------------------------


def check_bucket_name(clients: AwsClients, bucket: str) -> Check:
    """A configured bucket name is free, or already this account's in the stack's region."""
    name = "model bucket"
    if not bucket:
        return Check(name, "skip", "modelBucket.name is empty: Pulumi generates a unique name")
    try:
        response = clients.client("s3").head_bucket(Bucket=bucket)
    except ClientError as error:
        status = _http_status(error)
        code = _error_code(error)
        if status == 404 or code in ("404", "NoSuchBucket"):
            return Check(name, "pass", f'modelBucket.name: "{bucket}" is free')
        if status == 403 or code in ("403", "AccessDenied"):
            return Check(
                name,
                "fail",
                f'modelBucket.name: bucket "{bucket}" exists and is not ours (HeadBucket: 403 '
                "Forbidden: another account owns it, or this identity lacks s3:ListBucket on "
                "it); bucket names are global, choose another or leave it empty",
            )
        return _failure(name, error)
    except BotoCoreError as error:
        return _failure(name, error)
    headers = response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    region = str(response.get("BucketRegion") or headers.get("x-amz-bucket-region") or "")
    if region and region != clients.region:
        return Check(
            name,
            "fail",
            f'modelBucket.name: bucket "{bucket}" is ours but in {region}, not in the '
            f"stack's region {clients.region}",
        )
    return Check(
        name,
        "pass",
        f'modelBucket.name: bucket "{bucket}" already exists in this account '
        "(fine if this stack created it; otherwise import it or choose another name)",
    )


# --- permissions -----------------------------------------------------------------------------


def simulation_principal(caller_arn: str) -> str | None:
    """The IAM ARN to simulate for a caller ARN; None when IAM cannot simulate it.

    `arn:aws:sts::1:assumed-role/Admin/me` -> `arn:aws:iam::1:role/Admin` (role paths are not
    part of an assumed-role ARN; `resolve_role_arn` adds them back). Root and federated users
    have no IAM entity to simulate.
    """
    parts = caller_arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        return None
    _, partition, service, _, account, resource = parts
    kind, _, rest = resource.partition("/")
    if service == "sts" and kind == "assumed-role" and "/" in rest:
        return f"arn:{partition}:iam::{account}:role/{rest.split('/', 1)[0]}"
    if kind in ("user", "role") and rest and service in ("iam", "sts"):
        return f"arn:{partition}:iam::{account}:{kind}/{rest}"
    return None


def resolve_role_arn(clients: AwsClients, principal: str) -> str:
    """Add a role's path (`/aws-reserved/sso.amazonaws.com/...`) when iam:GetRole allows it."""
    if ":role/" not in principal:
        return principal
    role_name = principal.rsplit("/", 1)[1]
    try:
        return str(clients.client("iam").get_role(RoleName=role_name)["Role"]["Arn"])
    except (ClientError, BotoCoreError):
        return principal


def check_permissions(clients: AwsClients, actions: Sequence[str] = REQUIRED_ACTIONS) -> Check:
    """IAM's policy simulator allows the caller every action `pulumi up` needs."""
    name = "IAM permissions"
    try:
        caller = str(clients.client("sts").get_caller_identity()["Arn"])
    except (ClientError, BotoCoreError) as error:
        return _failure(name, error)
    principal = simulation_principal(caller)
    if principal is None:
        return Check(
            name, "skip", f"{caller} is not an IAM user or role; IAM cannot simulate its policies"
        )
    principal = resolve_role_arn(clients, principal)
    denied: dict[str, str] = {}
    try:
        paginator = clients.client("iam").get_paginator("simulate_principal_policy")
        for page in paginator.paginate(PolicySourceArn=principal, ActionNames=list(actions)):
            for result in page["EvaluationResults"]:
                if result["EvalDecision"] != "allowed":
                    denied[result["EvalActionName"]] = result["EvalDecision"]
    except ClientError as error:
        if _error_code(error) == "AccessDenied":
            why = "the caller may not call iam:SimulatePrincipalPolicy on itself"
        else:
            why = f"the simulation failed ({_describe(error)})"
        return Check(name, "skip", f"{why}; permissions of {principal} not checked")
    except (BotoCoreError, ResponseParserError) as error:
        # An endpoint without the simulator (moto answers HTTP 500 with HTML) lands here.
        return Check(
            name,
            "skip",
            f"the simulation failed ({_describe(error)}); permissions of {principal} not checked",
        )
    if not denied:
        return Check(name, "pass", f"{principal} may perform all {len(actions)} checked actions")
    listed = ", ".join(f"{action} ({denied[action]})" for action in sorted(denied))
    return Check(name, "fail", f"{principal} may not perform: {listed}")


# --- image mirror ----------------------------------------------------------------------------


DOCKER_HUB_SECRET_KEYS = ("username", "accessToken")
"""The JSON keys ECR reads from a Docker Hub pull-through credential (ECR user guide,
"Creating a pull through cache rule": Secrets Manager secret `ecr-pullthroughcache/...`)."""


def check_docker_hub_credential(clients: AwsClients, mirror: MirrorSettings) -> Check:
    """The Docker Hub credential of the pull-through rule exists here and holds what ECR reads.

    Without it `pulumi up` fails at the rule (ECR validates the secret). The key is required
    while the mirror is on (the stack runs Docker Hub images; components/config/model.py refuses an
    empty one), so an empty one here fails too."""
    name = "Docker Hub credential"
    arn = mirror.docker_hub_credential_arn
    if not mirror.enabled:
        return Check(name, "skip", "imageMirror is off: images come from their upstreams")
    if not arn:
        return Check(
            name,
            "fail",
            "dockerHubCredentialArn is empty: the stack's Docker Hub images come through ECR's "
            "cache, which needs the credential (docs/image-mirror.md)",
        )
    region = arn.split(":")[3]
    if region != clients.region:
        return Check(
            name,
            "fail",
            f"dockerHubCredentialArn: the secret is in {region}; ECR needs it in the stack's "
            f"region {clients.region}",
        )
    try:
        value = clients.client("secretsmanager").get_secret_value(SecretId=arn)
    except ClientError as error:
        code = _error_code(error)
        if code == "ResourceNotFoundException":
            return Check(name, "fail", f"dockerHubCredentialArn: no secret {arn}")
        if code == "AccessDeniedException":
            return Check(
                name,
                "fail",
                f"dockerHubCredentialArn: this identity may not read {arn} "
                "(secretsmanager:GetSecretValue, and kms:Decrypt for a customer key)",
            )
        return _failure(name, error)
    except BotoCoreError as error:
        return _failure(name, error)
    try:
        document = json.loads(value.get("SecretString") or "")
    except json.JSONDecodeError:
        document = None
    missing = [
        key
        for key in DOCKER_HUB_SECRET_KEYS
        if not isinstance(document, dict) or not document.get(key)
    ]
    if missing:
        return Check(
            name,
            "fail",
            f"dockerHubCredentialArn: the secret is not JSON with non-empty "
            f"{' and '.join(DOCKER_HUB_SECRET_KEYS)} (missing: {', '.join(missing)})",
        )
    return Check(name, "pass", f"dockerHubCredentialArn: {arn} is readable and complete")


def _same_principal(admin_arn: str, principal: str) -> bool:
    """Whether a clusterAdminArns entry names `principal`; a role matches by account and name,
    since the caller's assumed-role ARN carries no path."""
    if admin_arn == principal:
        return True
    if ":role/" not in admin_arn or ":role/" not in principal:
        return False
    account = admin_arn.split(":")[4]
    return account == principal.split(":")[4] and (
        admin_arn.rsplit("/", 1)[1] == principal.rsplit("/", 1)[1]
    )


def check_creator_not_listed(clients: AwsClients, admin_arns: Sequence[str]) -> Check:
    """The deploying identity is not in clusterAdminArns.

    pulumi-eks always creates the cluster with bootstrapClusterCreatorAdminPermissions: true
    (pulumi/pulumi-eks:nodejs/eks/cluster/cluster.ts@v4.3.0), so EKS already holds an access
    entry for the creator; a second one for the same principal fails with
    ResourceInUseException halfway through `pulumi up` (pulumi/pulumi-eks#2373).
    """
    name = "cluster creator"
    try:
        caller = str(clients.client("sts").get_caller_identity()["Arn"])
    except (ClientError, BotoCoreError) as error:
        return _failure(name, error)
    principal = simulation_principal(caller)
    if principal is None:
        return Check(name, "skip", f"{caller} is not an IAM user or role")
    principal = resolve_role_arn(clients, principal)
    for arn in admin_arns:
        if _same_principal(arn, principal):
            return Check(
                name,
                "fail",
                f"clusterAdminArns: {arn} is the identity running pulumi up ({caller}); "
                "pulumi-eks already gives the cluster creator admin access and EKS refuses a "
                "second access entry for it (pulumi/pulumi-eks#2373); remove it from the list",
            )
    return Check(
        name, "pass", f"{principal} gets admin as the creator and is not in clusterAdminArns"
    )


# --- the command -----------------------------------------------------------------------------


def run_checks(clients: AwsClients, config: StackConfig) -> list[Check]:
    """Every check for one stack, in the order a reader fixes them."""
    credentials = check_credentials(clients)
    if credentials.status == "fail":
        return [credentials]
    checks = [
        credentials,
        check_instance_type(
            clients,
            "dataNodeGroup.instanceType",
            config.data_node_group.instance_type,
            config.availability_zone_count,
        ),
    ]
    if config.gpu_nodes.karpenter:
        checks.extend(
            check_karpenter_instance_type(clients, name, config.availability_zone_count)
            for name in config.gpu_nodes.instance_types
        )
        if config.gpu_nodes.capacity_type == "SPOT":
            checks.append(check_spot_service_linked_role(clients))
    else:
        checks.append(
            check_instance_type(
                clients,
                "gpuNodes.instanceTypes",
                config.gpu_nodes.node_group_instance_type,
                config.availability_zone_count,
            )
        )
    checks.extend(check_vcpu_quotas(clients, config))
    checks.append(check_eks_version(clients, config.kubernetes_version))
    checks.append(check_bucket_name(clients, config.model_bucket.name))
    checks.append(check_creator_not_listed(clients, config.cluster_admin_arns))
    karpenter = config.gpu_nodes.karpenter
    checks.append(
        check_permissions(clients, REQUIRED_ACTIONS + (KARPENTER_ACTIONS if karpenter else ()))
    )
    checks.append(check_docker_hub_credential(clients, MirrorSettings.of(config)))
    return checks


def summary(checks: Iterable[Check]) -> str:
    counts = {"fail": 0, "pass": 0, "skip": 0}
    for check in checks:
        counts[check.status] += 1
    return f"preflight: {counts['fail']} failed, {counts['pass']} passed, {counts['skip']} skipped"


def render_plain(checks: Sequence[Check]) -> str:
    """The report as aligned text: check, status, detail."""
    width = max([len("check"), *(len(check.name) for check in checks)])
    lines = [f"{'check':<{width}}  status  detail"]
    lines.extend(f"{check.name:<{width}}  {check.status:<6}  {check.detail}" for check in checks)
    lines.append(summary(checks))
    return "\n".join(lines) + "\n"


def render(checks: Sequence[Check], stream: TextIO) -> None:
    """A rich table on a terminal, plain text otherwise (logs, CI, tests)."""
    if not stream.isatty():
        stream.write(render_plain(checks))
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    styles = {"pass": "green", "fail": "bold red", "skip": "yellow"}
    table = Table(title="preflight")
    table.add_column("check", no_wrap=True)
    table.add_column("status")
    table.add_column("detail", overflow="fold")
    for check in checks:
        table.add_row(
            escape(check.name), f"[{styles[check.status]}]{check.status}[/]", escape(check.detail)
        )
    console = Console(file=stream)
    console.print(table)
    console.print(summary(checks), highlight=False)


def _service_endpoint(value: str) -> tuple[str, str]:
    service, sep, url = value.partition("=")
    if not sep or not service or not url:
        raise argparse.ArgumentTypeError(f"{value!r} is not SERVICE=URL")
    return service, url


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tools.operate.preflight",
        description="Read-only AWS checks for a stack before `pulumi up`.",
    )
    add_stack_arguments(parser)
    parser.add_argument("--region", help="region to check instead of the stack's aws:region")
    parser.add_argument("--profile", help="AWS profile (default: the usual credential chain)")
    parser.add_argument("--endpoint-url", help="send every AWS call to this endpoint (emulators)")
    parser.add_argument(
        "--service-endpoint",
        type=_service_endpoint,
        action="append",
        default=[],
        metavar="SERVICE=URL",
        help="endpoint for one service, e.g. service-quotas=http://127.0.0.1:9000 (repeatable)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None, stdout: TextIO | None = None) -> int:
    args = parse_args(argv)
    out = stdout or sys.stdout
    config = load_config_for_tool("preflight", args.stack, args.stack_file)
    if config is None:
        return 2
    try:
        session = boto3.Session(profile_name=args.profile)
    except ProfileNotFound as error:
        print(f"preflight: --profile: {error}", file=sys.stderr)
        return 2
    clients = AwsClients(
        session,
        args.region or config.region,
        endpoint_url=args.endpoint_url,
        service_endpoints=dict(args.service_endpoint),
    )
    checks = run_checks(clients, config)
    render(checks, out)
    return 1 if any(check.status == "fail" for check in checks) else 0


if __name__ == "__main__":
    sys.exit(main())
