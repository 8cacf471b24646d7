"""What a valid config value looks like: the value-level checks the config model annotates its
fields with, each failing with one line that shows the bad value and what is allowed.

`rule(check, message)` and `one_of(...)` turn a predicate into a pydantic validator; the
functions below cover the AWS and Kubernetes naming rules the stack depends on.
"""

from __future__ import annotations

import ipaddress
import json
import posixpath
import re
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, StrictBool, StrictFloat, StrictInt, StrictStr
from pydantic_core import PydanticCustomError

from components.config.instance_types import CATALOGUE, GPU_FAMILIES, INSTANCE_TYPE_PATTERN

REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$")
DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_QUANTITY = re.compile(r"^(\d+(\.\d+)?)(m|k|Ki|Mi|Gi|Ti|M|G|T)?$")
_S3_PREFIX_CHARS = re.compile(r"^[A-Za-z0-9!_.*'()/-]+$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
HF_REPO = re.compile(r"(^$)|^[A-Za-z0-9][\w.-]*/[\w.-]+$")  # empty: no Hub source
DOMAIN = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]{2,}$")
# EKS access entries take IAM role and user ARNs; an STS assumed-role session ARN is refused
# ("You can't use the STS session principal type with access entries"), and one ARN can be in
# one access entry only (boto/botocore:botocore/data/eks/2017-11-01/service-2.json@1.44.8,
# CreateAccessEntry principalArn).
_IAM_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:(role|user)/[\w+=,.@/-]+$")
_STS_SESSION_ARN = re.compile(r"^arn:aws[a-z-]*:sts::\d{12}:assumed-role/([\w+=,.@-]+)/")
_UNITS = {"m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "Ki": 2**10, "Mi": 2**20}
_UNITS |= {"Gi": 2**30, "Ti": 2**40, "": 1}


# ECR reads pull-through credentials only from secrets named `ecr-pullthroughcache/...` (ECR API
# Reference, CreatePullThroughCacheRule credentialArn).
_PULL_THROUGH_CREDENTIAL = re.compile(
    r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:ecr-pullthroughcache/[\w/+=.@-]+$"
)


def show(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else json.dumps(value)


def problem(message: str) -> PydanticCustomError:
    return PydanticCustomError("config", message)


def rule(ok: Callable[[Any], bool] | re.Pattern[str], message: str) -> AfterValidator:
    """A check (a predicate or a pattern the whole value must match) whose failure reads
    `<key>: <message>`; "{value}" in the message shows the bad value."""

    def check(value: Any) -> Any:
        if not (ok.fullmatch(value) if isinstance(ok, re.Pattern) else ok(value)):
            raise problem(message.replace("{value}", show(value)))
        return value

    return AfterValidator(check)


def one_of(*choices: Any, reason: str = "") -> AfterValidator:
    allowed = reason or ", ".join(map(str, choices))
    return rule(lambda v: v in choices, f"{{value}} is not allowed; use one of {allowed}")


def _number_to_text(value: Any) -> Any:
    # `pulumi config set --path x.cpu 16` stores a number where Kubernetes takes a quantity.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    return str(value) if isinstance(value, int) else f"{value:f}".rstrip("0").rstrip(".")


def quantity(text: str) -> float:
    """A Kubernetes quantity in base units (cores or bytes)."""
    match = _QUANTITY.match(text)
    return float(match.group(1)) * _UNITS[match.group(3) or ""] if match else 0.0


Int = StrictInt
Bool = StrictBool
Num = StrictFloat
Str = StrictStr
Quantity = Annotated[
    StrictStr,
    BeforeValidator(_number_to_text),
    rule(_QUANTITY, "{value} is not a Kubernetes quantity like 24 or 4Gi"),
]


def instance_type(value: str) -> str:
    if not INSTANCE_TYPE_PATTERN.match(value):
        raise problem(f"{show(value)} is not an EC2 instance type like m5n.xlarge")
    if value not in CATALOGUE:
        raise problem(
            f"{show(value)} is not a known instance type; see "
            "components/config/instance_types.py for the supported families"
        )
    return value


def gpu_instance_type(value: str) -> str:
    if CATALOGUE[instance_type(value)].gpus == 0:
        raise problem(f"{show(value)} has no GPU; use a {'/'.join(GPU_FAMILIES)} type")
    return value


def cache_path(value: str) -> str:
    normal = posixpath.normpath(value)
    if not value.startswith("/") or ".." in value.split("/") or not normal.startswith("/mnt/"):
        raise problem(f"{show(value)} must be an absolute directory below /mnt")
    return normal


def bucket_name(name: str) -> str:
    reasons: list[str] = []
    if not _BUCKET.match(name):
        reasons.append(
            "3-63 lowercase letters, digits, dots or hyphens, starting and ending "
            "with a letter or digit"
        )
    if ".." in name or ".-" in name or "-." in name:
        reasons.append("no adjacent dots or dot-hyphen pairs")
    if re.match(r"^\d+\.\d+\.\d+\.\d+$", name):
        reasons.append("not formatted as an IP address")
    if name.startswith(("xn--", "sthree-", "amzn-s3-demo-")) or name.endswith(
        ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
    ):
        reasons.append("no reserved prefix or suffix (xn--, sthree-, -s3alias, --ol-s3, ...)")
    if name and reasons:
        raise problem(f"{show(name)} is not a valid S3 bucket name: {'; '.join(reasons)}")
    return name


def s3_prefix(prefix: str) -> str:
    if not prefix:
        raise problem("is required (the model's folder in the bucket, like models/my-model)")
    if prefix.startswith("/") or prefix.endswith("/") or "//" in prefix:
        raise problem(f"{show(prefix)} must not start or end with / or contain //")
    if not _S3_PREFIX_CHARS.match(prefix) or ".." in prefix.split("/"):
        raise problem(
            f"{show(prefix)} may only use letters, digits and !_.*'()/- and no .. segments"
        )
    if len(prefix) > 900:
        raise problem("is longer than 900 characters (S3 keys stop at 1024)")
    return prefix


def vpc_cidr(value: str) -> str:
    try:
        network = ipaddress.ip_network(value)
    except ValueError:
        raise problem(f"{show(value)} is not a CIDR block like 10.0.0.0/16") from None
    if not 16 <= network.prefixlen <= 20:
        raise problem(f"{show(value)} must be a /16 to /20 block (room for the subnets)")
    return str(network)


def is_cidr(value: str) -> bool:
    try:
        ipaddress.ip_network(value)
    except ValueError:
        return False
    return True


def admin_arn(arn: str) -> str:
    session = _STS_SESSION_ARN.match(arn)
    if session:
        raise problem(
            f"{show(arn)} is an STS session, which EKS access entries refuse; use the role "
            f"ARN (arn:aws:iam::<account>:role/<path/>{session.group(1)})"
        )
    if not _IAM_ARN.match(arn):
        raise problem(f"{show(arn)} is not an IAM role or user ARN")
    return arn


def unique(values: tuple[str, ...]) -> tuple[str, ...]:
    repeated = sorted({v for v in values if values.count(v) > 1})
    if repeated:
        raise problem(f"{show(repeated[0])} is listed twice; EKS takes one access entry per ARN")
    return values


def as_float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return -1.0


KubeName = Annotated[
    Str,
    rule(
        DNS1035,
        "{value} is not a valid Kubernetes name: lowercase letters, digits and '-', "
        "starting with a letter",
    ),
]
Namespace = Annotated[
    Str,
    rule(
        re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?"),
        "{value} is not a valid Kubernetes namespace name",
    ),
]
HfRepo = Annotated[Str, rule(HF_REPO, "{value} is not a Hugging Face repo id like org/name")]
Domain = Annotated[Str, rule(DOMAIN, "{value} is not a DNS domain like example.com")]
Cidr = Annotated[Str, rule(is_cidr, "{value} is not a CIDR block")]
VllmArg = Annotated[
    Str, rule(re.compile(r"--.+"), "{value} must be a --flag or --flag=value string")
]


def pull_through_credential(value: str) -> str:
    """Empty, or the ARN of a secret ECR may use as an upstream registry credential."""
    if value and not _PULL_THROUGH_CREDENTIAL.match(value):
        raise problem(
            f"{show(value)} must be empty or the ARN of a Secrets Manager secret named "
            "ecr-pullthroughcache/<name> (ECR refuses other names)"
        )
    return value
