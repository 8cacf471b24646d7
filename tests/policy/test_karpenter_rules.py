"""The rules on the Karpenter objects the program registers (issue 13): each fails on a
mutation of the real object in the plan."""

from __future__ import annotations

from typing import Any

from tests.policy.support import mutate, record, urn_of, violations

NODE_CLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
NODE_POOL = "kubernetes:karpenter.sh/v1:NodePool"
RELEASE = "kubernetes:helm.sh/v3:Release"
POD_IDENTITY = "aws:eks/podIdentityAssociation:PodIdentityAssociation"


def _spec(document: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = record(document, NODE_CLASS)["inputs"]["spec"]
    return spec


def test_node_class_hop_limit_2_fails(dev: dict[str, Any]) -> None:
    name = record(dev, NODE_CLASS)["name"]
    broken = mutate(dev, lambda d: _spec(d)["metadataOptions"].update(httpPutResponseHopLimit=2))
    assert violations("nodes-imdsv2-hop-limit", broken) == [
        f"{NODE_CLASS} {name}: metadataOptions.httpPutResponseHopLimit is 2, above 1"
    ]


def test_node_class_unencrypted_root_fails(dev: dict[str, Any]) -> None:
    name = record(dev, NODE_CLASS)["name"]
    broken = mutate(
        dev, lambda d: _spec(d)["blockDeviceMappings"][0]["ebs"].update(encrypted=False)
    )
    assert violations("nodes-encrypted-volumes", broken) == [
        f"{NODE_CLASS} {name}: spec.blockDeviceMappings[/dev/xvda].ebs.encrypted is not true"
    ]


def test_node_pool_without_the_karpenter_releases_fails(dev: dict[str, Any]) -> None:
    pool = record(dev, NODE_POOL)
    node_class = urn_of(dev, NODE_CLASS)
    releases = {urn_of(dev, RELEASE, "karpenter"), urn_of(dev, RELEASE, "karpenter-crd")}

    def cut(document: dict[str, Any]) -> None:
        for typ in (NODE_POOL, NODE_CLASS):
            target = record(document, typ)
            target["dependencies"] = [u for u in target["dependencies"] if u not in releases]

    messages = violations("destroy-after-crd-owner", mutate(dev, cut))
    assert sorted(messages) == sorted(
        [
            f"{NODE_POOL} {pool['name']}: does not depend on the release installing karpenter.sh "
            "(karpenter, karpenter-crd)",
            f"{NODE_CLASS} {record(dev, NODE_CLASS)['name']}: does not depend on the release "
            "installing karpenter.k8s.aws (karpenter, karpenter-crd)",
        ]
    )
    # The NodePool does not wait for the EC2NodeClass, which waits for the image snapshot; the
    # EC2NodeClass's finalizer orders their deletion instead (components/karpenter/component.py).
    assert node_class not in record(dev, NODE_POOL)["dependencies"]


def test_controller_pod_identity_for_any_account_fails(dev: dict[str, Any]) -> None:
    name = record(dev, POD_IDENTITY)["name"]
    broken = mutate(dev, lambda d: record(d, POD_IDENTITY)["inputs"].update(serviceAccount="*"))
    assert violations("iam-trust-pinned", broken) == [
        f"{POD_IDENTITY} {name}: not pinned to one namespace and service account"
    ]
