"""workloads-restricted: each control of the restricted profile fails on its own mutation of
the webhook-wait Job (and the staging Job keeps the token it uses)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.policy.support import mutate, record, violations

JOB = "kubernetes:batch/v1:Job"
WAIT = f"{JOB} wait-for-kserve-webhook"


def _pod(document: dict[str, Any]) -> dict[str, Any]:
    job = record(document, JOB, "wait-for-kserve-webhook")
    pod: dict[str, Any] = job["inputs"]["spec"]["template"]["spec"]
    return pod


def _container_context(document: dict[str, Any]) -> dict[str, Any]:
    context: dict[str, Any] = _pod(document)["containers"][0]["securityContext"]
    return context


MUTATIONS: dict[str, tuple[Callable[[dict[str, Any]], Any], str]] = {
    "root": (
        lambda d: _pod(d)["securityContext"].update(runAsNonRoot=False),
        f"{WAIT}: container wait: runAsNonRoot is not true",
    ),
    "uid 0": (
        lambda d: _container_context(d).update(runAsUser=0),
        f"{WAIT}: container wait: runAsNonRoot is not true",
    ),
    "no seccomp": (
        lambda d: _pod(d)["securityContext"].pop("seccompProfile"),
        f"{WAIT}: container wait: seccompProfile.type is None, not RuntimeDefault",
    ),
    "unconfined": (
        lambda d: _pod(d)["securityContext"].update(seccompProfile={"type": "Unconfined"}),
        f"{WAIT}: container wait: seccompProfile.type is 'Unconfined', not RuntimeDefault",
    ),
    "capabilities kept": (
        lambda d: _container_context(d).pop("capabilities"),
        f"{WAIT}: container wait: capabilities.drop does not contain ALL",
    ),
    "NET_RAW added": (
        lambda d: _container_context(d)["capabilities"].update(add=["NET_RAW"]),
        f"{WAIT}: container wait: capabilities.add ['NET_RAW'] beyond NET_BIND_SERVICE",
    ),
    "escalation": (
        lambda d: _container_context(d).update(allowPrivilegeEscalation=True),
        f"{WAIT}: container wait: allowPrivilegeEscalation is not false",
    ),
    "privileged": (
        lambda d: _container_context(d).update(privileged=True),
        f"{WAIT}: container wait: privileged is true",
    ),
    "writable root": (
        lambda d: _container_context(d).pop("readOnlyRootFilesystem"),
        f"{WAIT}: container wait: readOnlyRootFilesystem is not true",
    ),
    "token": (
        lambda d: _pod(d).pop("automountServiceAccountToken"),
        f"{WAIT}: mounts the default service account's token it does not use "
        "(set automountServiceAccountToken: false)",
    ),
    "host network": (
        lambda d: _pod(d).update(hostNetwork=True),
        f"{WAIT}: hostNetwork is true",
    ),
    "hostPath": (
        lambda d: _pod(d).update(volumes=[{"name": "docker", "hostPath": {"path": "/var/run"}}]),
        f"{WAIT}: volume docker is a hostPath",
    ),
}


@pytest.mark.parametrize("label", sorted(MUTATIONS))
def test_each_control_fails_on_its_own(dev: dict[str, Any], label: str) -> None:
    change, message = MUTATIONS[label]
    assert violations("workloads-restricted", mutate(dev, change)) == [message]


def test_init_containers_are_checked(dev: dict[str, Any]) -> None:
    broken = mutate(
        dev, lambda d: _pod(d).update(initContainers=[{"name": "init", "image": "busybox"}])
    )
    # runAsNonRoot and seccomp come from the pod's securityContext; the rest is per container.
    assert violations("workloads-restricted", broken) == [
        f"{WAIT}: container init: capabilities.drop does not contain ALL",
        f"{WAIT}: container init: allowPrivilegeEscalation is not false",
        f"{WAIT}: container init: readOnlyRootFilesystem is not true",
    ]


def test_exempt_workload_is_skipped(dev: dict[str, Any]) -> None:
    broken = mutate(dev, lambda d: _pod(d).update(hostNetwork=True))
    config = {"exempt": ["kserve/wait-for-kserve-webhook"]}
    assert violations("workloads-restricted", broken, config) == []


def test_staging_job_uses_its_token(dev_staging: dict[str, Any]) -> None:
    """The staging Job runs as its IRSA service account, so its token is not "unused"; its
    containers are held to the same controls."""
    job = record(dev_staging, JOB, "llama-31-8b-instruct-staging")
    pod = job["inputs"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "model-stager"
    broken = mutate(
        dev_staging,
        lambda d: record(d, JOB, "llama-31-8b-instruct-staging")["inputs"]["spec"]["template"][
            "spec"
        ]["containers"][0]["securityContext"].update(readOnlyRootFilesystem=False),
    )
    assert violations("workloads-restricted", broken) == [
        f"{JOB} llama-31-8b-instruct-staging: container stage: readOnlyRootFilesystem is not true"
    ]
