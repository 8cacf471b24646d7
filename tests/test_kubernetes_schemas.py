"""Every object the program applies and every object its charts install fits the cluster's API.

Built-in kinds are checked against the OpenAPI schema of the cluster's Kubernetes version (the
plan's `eks:index:Cluster` version, i.e. config `kubernetesVersion`) as kubernetes-validate
1.37.0 ships it, strict (unknown fields refused). It ships 1.25 to 1.37; the cluster's minor is
used when shipped, else the newest older one. Custom objects are checked against the real CRDs
in vendor/crds/ as before, and, for kinds whose CRD only a chart carries (cert-manager's
Certificate and Issuer, KServe's ClusterStorageContainer), against the CRD that chart installs.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import pytest

from components.versions import SUPPORTED_KUBERNETES_VERSIONS
from tests.charts import find, helm_releases, installed_objects
from tests.plan_support import Plan
from tests.schemas import (
    CrdValidators,
    NoKubernetesSchema,
    crd_validators,
    kubernetes_schema_version,
    kubernetes_schema_versions,
    validate_against_crds,
    validate_kubernetes_object,
)

STACKS = ("dev", "prod", "kourier")
RELEASE_TYPES = ("kubernetes:helm.sh/v3:Release", "kubernetes:helm.sh/v4:Chart")


@pytest.fixture(params=STACKS)
def stack(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture()
def plan(stack: str, request: pytest.FixtureRequest) -> Plan:
    found = request.getfixturevalue(f"{stack}_plan")
    assert isinstance(found, Plan)
    return found


def cluster_schema_version(plan: Plan) -> str:
    return kubernetes_schema_version(str(plan.one("eks:index:Cluster")["inputs"]["version"]))


def applied_objects(plan: Plan) -> list[dict[str, Any]]:
    """The Kubernetes objects the program registers itself, as the API server receives them."""
    found = []
    for resource in plan.resources:
        if not resource["type"].startswith("kubernetes:") or resource["type"] in RELEASE_TYPES:
            continue
        if not resource["custom"] or "kind" not in resource["inputs"]:
            continue
        document = copy.deepcopy(resource["inputs"])
        if document.get("stringData") == "[secret]":  # the plan hides secret values
            document["stringData"] = {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"}
        found.append(document)
    return found


def schema_problems(objects: list[dict[str, Any]], version: str, crds: CrdValidators) -> list[str]:
    problems = []
    for document in objects:
        name = f"{document['kind']} {document.get('metadata', {}).get('name')}"
        try:
            try:
                validate_kubernetes_object(document, version)
            except NoKubernetesSchema:
                validate_against_crds(document, crds)
        except jsonschema.ValidationError as error:
            where = "/".join(str(p) for p in error.absolute_path)
            problems.append(f"{name}: {error.message} at {where or '(root)'}")
        except LookupError as error:
            problems.append(f"{name}: {error}")
    return problems


_CHART_CRDS: dict[tuple[str, str], CrdValidators] = {}


def chart_crds(plan: Plan, stack: str) -> CrdValidators:
    """Validators of the CRDs the plan's charts install, built once per plan."""
    key = (str(plan.folder), stack)
    if key not in _CHART_CRDS:
        installed = [o for r in helm_releases(plan, stack) for o in installed_objects(r)]
        _CHART_CRDS[key] = crd_validators(find(installed, "CustomResourceDefinition"))
    return _CHART_CRDS[key]


@pytest.mark.parametrize("version", SUPPORTED_KUBERNETES_VERSIONS)
def test_every_supported_cluster_version_has_its_own_schema(version: str) -> None:
    assert kubernetes_schema_version(version).startswith(f"{version}.")


def test_schema_version_choice() -> None:
    shipped = kubernetes_schema_versions()
    assert "1.34.0" in shipped and "1.37.0" in shipped
    assert kubernetes_schema_version("1.34") == "1.34.0"
    assert kubernetes_schema_version("v1.33.5") == "1.33.0"
    assert kubernetes_schema_version("1.40") == shipped[-1]  # newest older, never newer
    with pytest.raises(LookupError, match=r"no schema for Kubernetes 1\.10 or older"):
        kubernetes_schema_version("1.10")


def test_plan_uses_the_configured_cluster_version(plan: Plan) -> None:
    version = str(plan.one("eks:index:Cluster")["inputs"]["version"])
    assert version in SUPPORTED_KUBERNETES_VERSIONS
    assert cluster_schema_version(plan) == f"{version}.0"


def test_every_applied_object_fits_the_cluster_api(plan: Plan, stack: str) -> None:
    objects = applied_objects(plan)
    assert len(objects) >= 10
    problems = schema_problems(objects, cluster_schema_version(plan), chart_crds(plan, stack))
    assert problems == [], "\n".join(problems)


def test_every_chart_object_fits_the_cluster_api(plan: Plan, stack: str) -> None:
    version, crds = cluster_schema_version(plan), chart_crds(plan, stack)
    problems = []
    for release in helm_releases(plan, stack):
        found = schema_problems(installed_objects(release), version, crds)
        problems += [f"{release.label}: {p}" for p in found]
    assert problems == [], "\n".join(problems)


def test_schema_checks_refuse_broken_objects(dev_plan: Plan) -> None:
    version = cluster_schema_version(dev_plan)
    crds = chart_crds(dev_plan, "dev")
    job = next(o for o in applied_objects(dev_plan) if o["kind"] == "Job")
    bad_job = copy.deepcopy(job)
    bad_job["spec"]["backofLimit"] = 2
    problems = schema_problems([bad_job], version, crds)
    assert len(problems) == 1 and "'backofLimit' was unexpected" in problems[0], problems
    bad_job = copy.deepcopy(job)
    bad_job["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] = [1]
    problems = schema_problems([bad_job], version, crds)
    assert problems and "[1] is not valid under any of the given schemas" in problems[0], problems
    assert problems[0].endswith("spec/template/spec/containers/0/resources/limits/cpu")
    certificate = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": "x"},
        "spec": {"secretName": "x", "issuerRef": {"name": "y"}, "dnsNames": ["a"], "bogus": 1},
    }
    problems = schema_problems([certificate], version, crds)
    assert problems == ["Certificate x: Additional properties are not allowed ('bogus' was "
                        "unexpected) at spec"]  # fmt: skip
    unknown = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    assert "no CRD for Widget example.com/v1" in schema_problems([unknown], version, crds)[0]
