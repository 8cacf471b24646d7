"""Default-deny NetworkPolicies with the flows the stack needs, for the model namespace and the
image-copy namespace.

Enforced by the VPC CNI's network policy agent (components/cluster/component.py turns it on);
it always lets a node reach its own pods, so kubelet probes need no rule
(aws/aws-network-policy-agent#56: "Traffic to/from Node IP will be allowed by default").

Model namespace, who talks to whom:
- predictors (KServe labels each pod `serving.kserve.io/inferenceservice: <name>`) accept
  connections only from Knative's namespace (activator, autoscaler metrics scrapes, and Kourier
  when it is the ingress) and from Istio's (the ingress gateway sends straight to a pod that has
  capacity);
- the Fluid pods of the cache (Jindo master, workers, FUSE, DataLoad: every pod Fluid's charts
  create carries `fluid.io/managed-by: fluid`, fluid-cloudnative/fluid:charts/library/templates/
  _recommended_labels.tpl@v1.0.8) talk to each other and to S3 on 443; a predictor reads the
  cache through the FUSE mount on its node, not over the pod network;
- the predictors of the loaders that read S3 themselves (`download`: the storage initializer;
  `stream`: the Run:ai streamer; both S3 and STS for IRSA) and Jobs (staging from the Hugging
  Face Hub to S3, DataLoad gates asking the API server; Kubernetes labels each Job pod
  `batch.kubernetes.io/job-name`) reach 443; S3 traffic leaves through the VPC's S3 gateway
  endpoint (a route, not an address a NetworkPolicy can name);
- every pod may ask cluster DNS.
A `cache` predictor gets no egress beyond DNS: it reads the cache through its node's mount.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

ISVC_LABEL = "serving.kserve.io/inferenceservice"
FLUID_POD_LABELS = {"fluid.io/managed-by": "fluid"}
JOB_POD_LABEL = "batch.kubernetes.io/job-name"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
ANYWHERE = {"ipBlock": {"cidr": "0.0.0.0/0"}}
HTTPS = [{"protocol": "TCP", "port": 443}]


def _policy(name: str, namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def default_deny(namespace: str) -> dict[str, Any]:
    """Selects every pod for both directions with no rule: nothing flows unless allowed."""
    return _policy(
        "default-deny", namespace, {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    )


def allow_dns(namespace: str) -> dict[str, Any]:
    """CoreDNS (kube-system, `k8s-app: kube-dns`) on 53 for every pod."""
    return _policy(
        "allow-dns",
        namespace,
        {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [
                        {
                            "namespaceSelector": {
                                "matchLabels": {NAMESPACE_NAME_LABEL: "kube-system"}
                            },
                            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                        }
                    ],
                    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                }
            ],
        },
    )


def _https_out(name: str, namespace: str, selector: dict[str, Any]) -> dict[str, Any]:
    return _policy(
        name,
        namespace,
        {
            "podSelector": selector,
            "policyTypes": ["Egress"],
            "egress": [{"to": [ANYWHERE], "ports": HTTPS}],
        },
    )


def model_namespace_policies(
    namespace: str, ingress_namespaces: Sequence[str], s3_readers: Sequence[str]
) -> list[dict[str, Any]]:
    """`ingress_namespaces`: where the pods that call predictors run (the platform layer says);
    `s3_readers`: the InferenceServices that read S3 themselves (the `stream` and `download`
    loaders)."""
    predictors = {"matchExpressions": [{"key": ISVC_LABEL, "operator": "Exists"}]}
    fluid_pods = {"matchLabels": dict(FLUID_POD_LABELS)}
    policies = [
        default_deny(namespace),
        allow_dns(namespace),
        _policy(
            "predictors-from-ingress",
            namespace,
            {
                "podSelector": predictors,
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [
                            {
                                "namespaceSelector": {
                                    "matchExpressions": [
                                        {
                                            "key": NAMESPACE_NAME_LABEL,
                                            "operator": "In",
                                            "values": list(ingress_namespaces),
                                        }
                                    ]
                                }
                            }
                        ]
                    }
                ],
            },
        ),
        _policy(
            "fluid-cache",
            namespace,
            {
                "podSelector": fluid_pods,
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [{"from": [{"podSelector": fluid_pods}]}],
                "egress": [
                    {"to": [{"podSelector": fluid_pods}]},
                    {"to": [ANYWHERE], "ports": HTTPS},
                ],
            },
        ),
        _https_out(
            "jobs-https",
            namespace,
            {"matchExpressions": [{"key": JOB_POD_LABEL, "operator": "Exists"}]},
        ),
    ]
    if s3_readers:
        policies.append(
            _https_out(
                "s3-readers-https",
                namespace,
                {
                    "matchExpressions": [
                        {"key": ISVC_LABEL, "operator": "In", "values": sorted(s3_readers)}
                    ]
                },
            )
        )
    return policies


def image_copy_policies(namespace: str) -> list[dict[str, Any]]:
    """The copy Jobs fetch from upstream registries and push to ECR (and exchange their IRSA
    token with STS): HTTPS out and DNS, nothing in."""
    return [
        default_deny(namespace),
        allow_dns(namespace),
        _https_out("copy-jobs-https", namespace, {}),
    ]


def network_policies(
    documents: Sequence[dict[str, Any]],
    provider: k8s.Provider,
    after: Sequence[pulumi.Resource],
    parent: pulumi.Resource | None = None,
) -> list[k8s.networking.v1.NetworkPolicy]:
    """The policies as objects, after their namespace and the data nodes (deleted while the
    nodes still run: the pack's destroy-after-controller-nodes rule)."""
    return [
        k8s.networking.v1.NetworkPolicy(
            f"{document['metadata']['namespace']}-{document['metadata']['name']}",
            metadata=document["metadata"],
            spec=document["spec"],
            opts=pulumi.ResourceOptions(parent=parent, provider=provider, depends_on=list(after)),
        )
        for document in documents
    ]
