"""GPU nodes under Karpenter: the objects against the real CRDs and chart, the AWS side, the
destroy order in the plan's dependency graph, and the `gpuNodes` checks."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import helm_python as helm
import jsonschema
import pytest
import yaml

from components.config.model import GpuNodesConfig
from components.karpenter import manifests
from tests.config_support import parse, problems
from tests.nodes import data_shapes, gpu_shapes, landing, node_shapes
from tests.plan_support import NODE_POOL, Plan, PlanFailure, run_plan
from tests.schemas import CRD_DIR, validate_custom_object
from tools.maintain.vendor import CHART_DIR
from tools.plan.stack_config import load_stack_settings, read_project

CHARTS = CHART_DIR
NODE_CLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
RELEASE = "kubernetes:helm.sh/v3:Release"
MNG = "eks:index:ManagedNodeGroup"
SETTINGS = GpuNodesConfig()  # Pulumi.yaml's defaults: karpenter, g5.8xlarge, 2 GPUs, 15 min


def release(plan: Plan, name: str) -> dict[str, Any]:
    return next(r for r in plan.of_type(RELEASE) if r["inputs"]["name"] == name)


def spec_of(plan: Plan, typ: str) -> dict[str, Any]:
    resource = plan.one(typ)
    return {k: resource["inputs"][k] for k in ("apiVersion", "kind", "metadata", "spec")}


# --- pure builders against the real CRDs ----------------------------------------------------


@pytest.mark.parametrize(
    "settings",
    [
        SETTINGS,
        GpuNodesConfig.model_validate(
            {
                "instanceTypes": ["g5.8xlarge", "g6.8xlarge", "g5.12xlarge"],
                "capacityType": "SPOT",
                "gpuLimit": 8,
                "keepWarmMinutes": 0,
                "rootDiskGiB": 60,
            }
        ),
    ],
    ids=["default", "spot-three-types-no-keep-warm"],
)
def test_node_class_and_pool_fit_the_crds(settings: GpuNodesConfig) -> None:
    validate_custom_object(
        manifests.ec2_node_class(settings, "c", "role", {"project": "p"}, imds_hop_limit=1)
    )
    validate_custom_object(manifests.node_pool(settings))


def test_the_crd_check_refuses_a_wrong_field() -> None:
    node_class = manifests.ec2_node_class(SETTINGS, "c", "role", {}, imds_hop_limit=1)
    node_class["spec"]["instanceStorePolicy"] = "RAID1"
    with pytest.raises(jsonschema.ValidationError):
        validate_custom_object(node_class)
    pool = manifests.node_pool(SETTINGS)
    pool["spec"]["disruption"]["consolidateAfter"] = "15 minutes"
    with pytest.raises(jsonschema.ValidationError):
        validate_custom_object(pool)


def test_node_class_launches_hardened_gpu_nodes() -> None:
    spec = manifests.ec2_node_class(
        SETTINGS, "cluster-x", "node-role", {"stack": "dev"}, imds_hop_limit=1
    )["spec"]
    assert spec["amiSelectorTerms"] == [{"alias": "al2023@v20260714"}]
    assert "latest" not in spec["amiSelectorTerms"][0]["alias"]
    assert spec["role"] == "node-role"
    assert spec["instanceStorePolicy"] == "RAID0"
    assert spec["metadataOptions"]["httpTokens"] == "required"
    assert spec["metadataOptions"]["httpPutResponseHopLimit"] == 1
    (root,) = spec["blockDeviceMappings"]
    assert root["deviceName"] == "/dev/xvda" and root["rootVolume"] is True
    assert root["ebs"] == {
        "volumeSize": "100Gi",
        "volumeType": "gp3",
        "encrypted": True,
        "deleteOnTermination": True,
    }
    node_config = yaml.safe_load(spec["userData"])
    assert node_config["kind"] == "NodeConfig"
    assert node_config["spec"] == {"featureGates": {"FastImagePull": True}}
    discovery = [{"tags": {"karpenter.sh/discovery": "cluster-x"}}]
    assert spec["subnetSelectorTerms"] == discovery
    assert spec["securityGroupSelectorTerms"] == discovery
    assert spec["tags"] == {"stack": "dev", "kserve-fluid/node-role": "gpu"}
    # Karpenter refuses tags in its own domains (EC2NodeClass CRD validation rules).
    assert not any(
        key.startswith(("karpenter.sh/", "karpenter.k8s.aws/", "kubernetes.io/cluster"))
        for key in spec["tags"]
    )


def test_node_pool_scales_gpus_from_zero() -> None:
    spec = manifests.node_pool(SETTINGS)["spec"]
    template = spec["template"]
    assert template["metadata"]["labels"] == {
        "kserve-fluid/node-role": "gpu",
        "nvidia.com/gpu.present": "true",
    }
    assert template["spec"]["taints"] == [
        {"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}
    ]
    requirements = {r["key"]: r["values"] for r in template["spec"]["requirements"]}
    assert requirements["node.kubernetes.io/instance-type"] == ["g5.8xlarge"]
    assert requirements["karpenter.sh/capacity-type"] == ["on-demand"]
    assert template["spec"]["nodeClassRef"]["name"] == "gpu"
    assert spec["limits"] == {"nvidia.com/gpu": "2"}
    assert spec["disruption"]["consolidationPolicy"] == "WhenEmpty"
    assert spec["disruption"]["consolidateAfter"] == "15m"
    assert {"nodes": "0", "reasons": ["Drifted"]} in spec["disruption"]["budgets"]
    assert template["spec"]["expireAfter"] == "Never"


def test_keep_warm_zero_and_spot() -> None:
    settings = SETTINGS.model_copy(update={"keep_warm_minutes": 0, "capacity_type": "SPOT"})
    spec = manifests.node_pool(settings)["spec"]
    assert spec["disruption"]["consolidateAfter"] == "0s"
    requirements = {r["key"]: r["values"] for r in spec["template"]["spec"]["requirements"]}
    assert requirements["karpenter.sh/capacity-type"] == ["spot"]


# --- the dev plan ----------------------------------------------------------------------------


def test_dev_plan_has_karpenter_and_no_gpu_node_group(dev_plan: Plan) -> None:
    assert [r["name"] for r in dev_plan.of_type(MNG)] == ["cluster-data"]
    for typ in (NODE_CLASS, NODE_POOL):
        validate_custom_object(spec_of(dev_plan, typ))
    assert release(dev_plan, "karpenter")["inputs"]["skipCrds"] is True
    assert "skipCrds" not in release(dev_plan, "karpenter-crd")["inputs"]
    for name in ("karpenter", "karpenter-crd"):
        inputs = release(dev_plan, name)["inputs"]
        assert inputs["chart"] == f"oci://public.ecr.aws/karpenter/{name}"
        assert inputs["version"] == "1.14.1"
        assert inputs["namespace"] == "kube-system"
    node_class = dev_plan.one(NODE_CLASS)["inputs"]["spec"]
    assert node_class["role"] == "karpenter-node-role"


@pytest.mark.parametrize("hop_limit", [1, 2])
def test_gpu_nodes_get_the_stacks_imds_hop_limit_like_the_data_nodes(
    tmp_path: Path, hop_limit: int
) -> None:
    # imdsHopLimit is documented for every node: Karpenter's GPU nodes must not keep a fixed 1
    # while the node groups' launch templates follow the key (nodeclasses.md@v1.14.1,
    # spec.metadataOptions).
    plan = run_plan(tmp_path / "plan", sets={"imdsHopLimit": hop_limit})
    assert isinstance(plan, Plan), plan.stderr
    node_class = plan.one(NODE_CLASS)["inputs"]["spec"]["metadataOptions"]
    (template,) = plan.of_type("aws:ec2/launchTemplate:LaunchTemplate")
    assert node_class["httpPutResponseHopLimit"] == hop_limit
    assert template["inputs"]["metadataOptions"]["httpPutResponseHopLimit"] == hop_limit


def test_interruption_queue_is_encrypted_tls_only_and_fed_by_five_rules(dev_plan: Plan) -> None:
    queue = dev_plan.one("aws:sqs/queue:Queue")
    assert queue["inputs"]["sqsManagedSseEnabled"] is True
    assert queue["inputs"]["messageRetentionSeconds"] == 300
    values = release(dev_plan, "karpenter")["inputs"]["values"]
    assert values["settings"]["interruptionQueue"] == queue["inputs"]["name"]
    policy = json.loads(dev_plan.one("aws:sqs/queuePolicy:QueuePolicy")["inputs"]["policy"])
    deny = next(s for s in policy["Statement"] if s["Effect"] == "Deny")
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny["Action"] == "sqs:*" and deny["Principal"] == "*"
    rules = dev_plan.of_type("aws:cloudwatch/eventRule:EventRule")
    kinds = sorted(json.loads(r["inputs"]["eventPattern"])["detail-type"][0] for r in rules)
    assert kinds == [
        "AWS Health Event",
        "EC2 Capacity Reservation Instance Interruption Warning",
        "EC2 Instance Rebalance Recommendation",
        "EC2 Instance State-change Notification",
        "EC2 Spot Instance Interruption Warning",
    ]
    queue_arn = "arn:aws:sqs:eu-central-1:123456789012:karpenter-interruption-queue"
    targets = dev_plan.of_type("aws:cloudwatch/eventTarget:EventTarget")
    assert len(targets) == 5 and all(t["inputs"]["arn"] == queue_arn for t in targets)


def test_node_role_joins_through_an_ec2_linux_access_entry(dev_plan: Plan) -> None:
    entry = dev_plan.one("aws:eks/accessEntry:AccessEntry")["inputs"]
    role = dev_plan.one("aws:iam/role:Role", "karpenter-node-role")
    assert entry["type"] == "EC2_LINUX"
    assert entry["principalArn"] == "arn:aws:iam::123456789012:role/karpenter-node-role"
    trust = json.loads(role["inputs"]["assumeRolePolicy"])["Statement"]
    assert trust == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ]
    attached = sorted(
        r["inputs"]["policyArn"].rsplit("/", 1)[1]
        for r in dev_plan.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if r["name"].startswith("karpenter-node-")
    )
    assert attached == [
        "AmazonEC2ContainerRegistryPullOnly",
        "AmazonEKSWorkerNodePolicy",
        "AmazonEKS_CNI_Policy",
        "AmazonSSMManagedInstanceCore",
        # The image mirror's node policy: GPU nodes' first pulls through its cache rules.
        "images-pull-through",
    ]


def _controller_statements(plan: Plan) -> dict[str, dict[str, Any]]:
    statements: dict[str, dict[str, Any]] = {}
    for policy in plan.of_type("aws:iam/policy:Policy"):
        if policy["name"].startswith("karpenter-"):
            for statement in json.loads(policy["inputs"]["policy"])["Statement"]:
                statements[statement["Sid"]] = statement
    return statements


def test_controller_policy_is_upstreams_scoped_grant(dev_plan: Plan) -> None:
    statements = _controller_statements(dev_plan)
    # The Sids of the template's six policies (cloudformation.yaml@v1.14.1), none more.
    assert sorted(statements) == sorted(
        [
            "AllowScopedEC2InstanceAccessActions",
            "AllowScopedEC2LaunchTemplateAccessActions",
            "AllowScopedEC2InstanceActionsWithTags",
            "AllowScopedResourceCreationTagging",
            "AllowScopedResourceTagging",
            "AllowScopedDeletion",
            "AllowPassingInstanceRole",
            "AllowScopedInstanceProfileCreationActions",
            "AllowScopedInstanceProfileTagActions",
            "AllowScopedInstanceProfileActions",
            "AllowAPIServerEndpointDiscovery",
            "AllowInterruptionQueueActions",
            "AllowZonalShiftStatusReadOnly",
            "AllowRegionalReadActions",
            "AllowSSMReadActions",
            "AllowPricingReadActions",
            "AllowUnscopedInstanceProfileListAction",
            "AllowInstanceProfileReadActions",
        ]
    )
    cluster = "kserve-fluid-dev"
    assert statements["AllowPassingInstanceRole"]["Resource"] == (
        "arn:aws:iam::123456789012:role/karpenter-node-role"
    )
    assert statements["AllowAPIServerEndpointDiscovery"] == {
        "Sid": "AllowAPIServerEndpointDiscovery",
        "Effect": "Allow",
        "Resource": f"arn:aws:eks:eu-central-1:123456789012:cluster/{cluster}",
        "Action": "eks:DescribeCluster",
    }
    assert statements["AllowInterruptionQueueActions"]["Resource"] == (
        "arn:aws:sqs:eu-central-1:123456789012:karpenter-interruption-queue"
    )
    assert statements["AllowSSMReadActions"]["Resource"] == (
        "arn:aws:ssm:eu-central-1::parameter/aws/service/*"
    )
    assert statements["AllowPricingReadActions"]["Action"] == "pricing:GetProducts"
    # Every action that launches, tags or deletes is scoped to this cluster's tag.
    for sid in (
        "AllowScopedEC2LaunchTemplateAccessActions",
        "AllowScopedEC2InstanceActionsWithTags",
        "AllowScopedResourceCreationTagging",
        "AllowScopedResourceTagging",
        "AllowScopedDeletion",
        "AllowScopedInstanceProfileCreationActions",
        "AllowScopedInstanceProfileActions",
    ):
        condition = json.dumps(statements[sid]["Condition"])
        assert f"kubernetes.io/cluster/{cluster}" in condition, sid
        assert "karpenter.sh/nodepool" in condition or "ec2nodeclass" in condition, sid


def test_controller_gets_its_role_by_pod_identity(dev_plan: Plan) -> None:
    association = dev_plan.one("aws:eks/podIdentityAssociation:PodIdentityAssociation")["inputs"]
    assert association["namespace"] == "kube-system"
    assert association["serviceAccount"] == "karpenter"
    assert association["roleArn"] == "arn:aws:iam::123456789012:role/karpenter-controller-role"
    role = dev_plan.one("aws:iam/role:Role", "karpenter-controller-role")
    (trust,) = json.loads(role["inputs"]["assumeRolePolicy"])["Statement"]
    assert trust["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert trust["Action"] == ["sts:AssumeRole", "sts:TagSession"]
    addons = {a["inputs"]["addonName"] for a in dev_plan.of_type("aws:eks/addon:Addon")}
    assert "eks-pod-identity-agent" in addons
    values = release(dev_plan, "karpenter")["inputs"]["values"]
    assert "serviceAccount" not in values, "no IRSA annotation with Pod Identity"


def test_discovery_tags_on_private_subnets_and_node_security_group(dev_plan: Plan) -> None:
    subnets = dev_plan.of_type("aws:ec2/subnet:Subnet")
    private = [s["inputs"] for s in subnets if "-private-" in s["name"]]
    public = [s["inputs"] for s in subnets if "-public-" in s["name"]]
    assert len(private) == len(public) == 3
    assert all(s["tags"]["karpenter.sh/discovery"] == "kserve-fluid-dev" for s in private)
    assert not any("karpenter.sh/discovery" in s["tags"] for s in public)
    tag = dev_plan.one("aws:ec2/tag:Tag")["inputs"]
    # The cluster security group EKS creates, which the data nodes run in (plan mock's value).
    assert tag == {
        "resourceId": "sg-eks-cluster",
        "key": "karpenter.sh/discovery",
        "value": "kserve-fluid-dev",
    }


def test_predictors_keep_karpenter_off_their_node(dev_plan: Plan) -> None:
    services = dev_plan.of_type("kubernetes:serving.kserve.io/v1beta1:InferenceService")
    assert services
    for service in services:
        annotations = service["inputs"]["spec"]["predictor"]["annotations"]
        assert annotations["karpenter.sh/do-not-disrupt"] == "true", service["name"]


def test_device_plugin_lands_on_karpenter_gpu_nodes(dev_plan: Plan) -> None:
    # Matched by the scheduler's rules against the labels and taint the NodePool sets.
    values = release(dev_plan, "nvidia-device-plugin")["inputs"]["values"]
    assert dev_plan.of_type(NODE_POOL)
    gpu_nodes = {s.source for s in gpu_shapes(dev_plan)}
    assert landing(values, node_shapes(dev_plan)) == gpu_nodes


def test_node_group_scenario_has_no_karpenter(node_group_plan: Plan) -> None:
    assert {r["name"] for r in node_group_plan.of_type(MNG)} == {"cluster-data", "cluster-gpu"}
    assert not node_group_plan.of_type(NODE_POOL)
    assert not node_group_plan.of_type("aws:sqs/queue:Queue")
    assert not [
        r for r in node_group_plan.of_type(RELEASE) if r["inputs"]["name"].startswith("karpenter")
    ]
    assert node_group_plan.outputs["gpuNodeGroupName"] == "kserve-fluid-dev-gpu"


# --- the real charts -------------------------------------------------------------------------


def _leaf_paths(values: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    if isinstance(values, dict) and values:
        return [p for k, v in values.items() for p in _leaf_paths(v, (*prefix, k))]
    return [prefix]


_VALUES_REF = re.compile(r"\.Values((?:\.\w+)+)")
_PASSED_WHOLE = re.compile(r"(?:with|toYaml)\s+\.Values((?:\.\w+)+)")


def _ignored_keys(values: dict[str, Any], chart: Any) -> list[str]:
    """Value paths no template reads: a path is read when a template names it, or passes a
    map above it through whole (`with .Values.nodeSelector` + toYaml, as Helm charts do)."""
    text = "\n".join(t["data"] for t in chart.templates)
    named = {tuple(m.split(".")[1:]) for m in _VALUES_REF.findall(text)}
    whole = {tuple(m.split(".")[1:]) for m in _PASSED_WHOLE.findall(text)}
    return [
        ".".join(path)
        for path in _leaf_paths(values)
        if path not in named and not any(path[: len(w)] == w for w in whole)
    ]


def _documents(rendered: dict[str, str]) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for text in rendered.values():
        docs.extend(d for d in yaml.safe_load_all(text) if d)
    return docs


def test_karpenter_chart_renders_the_programs_values_with_no_ignored_key(dev_plan: Plan) -> None:
    values = release(dev_plan, "karpenter")["inputs"]["values"]
    chart = helm.Chart.load(str(CHARTS / "karpenter-1.14.1.tgz"))
    assert chart.version == "1.14.1"
    assert _ignored_keys(values, chart) == []
    assert _ignored_keys({"controller": {"resourcez": {}}, "replica": 2}, chart) == [
        "controller.resourcez",
        "replica",
    ]
    docs = _documents(
        chart.render(values, name="karpenter", namespace="kube-system", is_install=True)
    )
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert deployment["spec"]["replicas"] == 2
    data_nodes = {s.source for s in data_shapes(dev_plan)}
    assert landing(pod, node_shapes(dev_plan)) == data_nodes
    never_on_managed_nodes = {"key": "karpenter.sh/nodepool", "operator": "DoesNotExist"}
    terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert never_on_managed_nodes in terms["nodeSelectorTerms"][0]["matchExpressions"]
    assert pod["affinity"]["podAntiAffinity"], "one replica per node"
    (container,) = pod["containers"]
    assert container["resources"] == manifests.CONTROLLER_RESOURCES
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["CLUSTER_NAME"] == "kserve-fluid-dev"
    assert env["INTERRUPTION_QUEUE"] == "kserve-fluid-dev-karpenter"
    # Pods cannot ask IMDS (hop limit 1) for the region the controller needs.
    assert env["AWS_REGION"] == "eu-central-1"
    # From the stack's ECR Public cache, with the chart's own digest.
    assert container["image"] == (
        "123456789012.dkr.ecr.eu-central-1.amazonaws.com/kserve-fluid-dev/ecr-public/karpenter/"
        "controller:1.14.1@sha256:445baefaaa689029cc12ac1f659b916b0b82fb14308ce536f8521fcf079116fa"
    )
    account = next(d for d in docs if d["kind"] == "ServiceAccount")
    assert account["metadata"]["name"] == manifests.SERVICE_ACCOUNT


def test_crd_chart_installs_the_crds_the_objects_are_checked_against() -> None:
    chart = helm.Chart.load(str(CHARTS / "karpenter-crd-1.14.1.tgz"))
    rendered = {
        d["metadata"]["name"]: d
        for d in _documents(chart.render({}, name="karpenter-crd", namespace="kube-system"))
    }
    for name in ("nodepools.karpenter.sh", "ec2nodeclasses.karpenter.k8s.aws"):
        group = name.split(".", 1)[1]
        plural = name.split(".", 1)[0]
        shared = yaml.safe_load((CRD_DIR / f"{group}_{plural}.yaml").read_text())
        assert rendered[name]["spec"]["versions"] == shared["spec"]["versions"], name


# --- destroy order (edges in the plan's dependency graph) --------------------------------------


def test_destroy_removes_karpenter_objects_before_what_they_need(dev_plan: Plan) -> None:
    plan = dev_plan
    node_pool = plan.one(NODE_POOL)
    node_class = plan.one(NODE_CLASS)
    controller = release(plan, "karpenter")
    crds = release(plan, "karpenter-crd")
    # Destroy runs edges backwards: whatever X depends on is deleted after X. The NodePool does
    # not wait for the EC2NodeClass (which waits for the image snapshot); the EC2NodeClass's
    # finalizer waits for the NodeClaims instead (components/karpenter/component.py).
    snapshot = plan.one("pulumi-python:dynamic/kserve-fluid:ImageSnapshot")
    assert plan.depends_on(node_class, snapshot)
    assert not plan.depends_on(node_pool, node_class)
    assert not plan.depends_on(release(plan, "fluid"), snapshot)
    for karpenter_object in (node_pool, node_class):
        assert plan.depends_on(karpenter_object, controller)
        assert plan.depends_on(karpenter_object, crds)
    after_controller = {
        "data nodes": plan.one(MNG, "cluster-data"),
        "CoreDNS": plan.one("aws:eks/addon:Addon", "cluster-coredns"),
        "node role": plan.one("aws:iam/role:Role", "karpenter-node-role"),
        "node access entry": plan.one("aws:eks/accessEntry:AccessEntry"),
        "queue": plan.one("aws:sqs/queue:Queue"),
        "controller role": plan.one("aws:iam/role:Role", "karpenter-controller-role"),
        "pod identity": plan.one("aws:eks/podIdentityAssociation:PodIdentityAssociation"),
        "pod identity agent": plan.one("aws:eks/addon:Addon", "karpenter-pod-identity-agent"),
        "cluster": plan.one("eks:index:Cluster"),
        "VPC": plan.one("aws:ec2/vpc:Vpc"),
    }
    for what, resource in after_controller.items():
        assert plan.depends_on(controller, resource), what
    grants = [
        r
        for r in plan.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if r["name"].endswith("Policy-attachment")
    ]
    assert len(grants) == 6 and all(plan.depends_on(controller, g) for g in grants)
    # The node role's attachments are created before, and deleted after, the EC2NodeClass that
    # launches nodes with the role (as the managed node groups depend on theirs).
    role = plan.one("aws:iam/role:Role", "karpenter-node-role")
    attachments = [
        r
        for r in plan.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if r["parent"] == role["urn"]
    ]
    assert len(attachments) == 5  # four managed policies and the image mirror's node policy
    assert all(a["urn"] in node_class["dependencies"] for a in attachments)
    # GPU capacity is the NodePool: the device plugin (and issue 10's consumers) go before it.
    assert plan.depends_on(release(plan, "nvidia-device-plugin"), node_pool)
    for resource in (node_pool, node_class):
        assert resource["inputs"]["metadata"]["name"] == "gpu"
    # Nothing Karpenter's own side needs is removed while it still runs: no edge points back.
    for what, resource in after_controller.items():
        assert not plan.depends_on(resource, node_pool), what


# --- configuration ---------------------------------------------------------------------------


def dev_raw(**gpu_nodes: Any) -> dict[str, Any]:
    raw = load_stack_settings("dev").project_values()
    if gpu_nodes:
        raw["gpuNodes"] = gpu_nodes
    return raw


def test_pulumi_yaml_declares_the_models_defaults() -> None:
    declared = read_project()["config"]["gpuNodes"]
    assert declared["type"] == "object"
    # The default shows only the keys that take effect under its provisioner (karpenter).
    defaults = GpuNodesConfig().model_dump(by_alias=True, mode="json")
    inert = GpuNodesConfig.inert_keys("karpenter")
    assert inert == ["minSize", "desiredSize", "maxSize", "instanceStoreRaid0"]
    assert declared["default"] == {k: v for k, v in defaults.items() if k not in inert}
    # dev raises only the GPU limit: its model's three InferenceServices may start at once.
    assert parse(dev_raw()).gpu_nodes == SETTINGS.model_copy(update={"gpu_limit": 3})
    assert not parse(dev_raw(provisioner="nodeGroup")).gpu_nodes.karpenter


@pytest.mark.parametrize(
    ("gpu_nodes", "problem"),
    [
        (
            {"provisioner": "fargate"},
            'gpuNodes.provisioner: "fargate" is not allowed; use one of karpenter, nodeGroup',
        ),
        (
            {"instanceTypes": ["m5.large"]},
            'gpuNodes.instanceTypes[0]: "m5.large" has no GPU; use a g4dn/g5/g6/g6e/p4d/p5 type',
        ),
        (
            {"instanceTypes": []},
            "gpuNodes.instanceTypes: must list at least one GPU instance type like g5.8xlarge",
        ),
        (
            {"instanceTypes": ["g5.8xlarge", "g5.8xlarge"]},
            "gpuNodes.instanceTypes: lists an instance type twice",
        ),
        (
            {"capacityType": "spot"},
            'gpuNodes.capacityType: "spot" is not allowed; use one of ON_DEMAND, SPOT',
        ),
        ({"gpuLimit": 0}, "gpuNodes.gpuLimit: 0 must be at least 1"),
        ({"gpuLimit": "2"}, 'gpuNodes.gpuLimit: must be an integer, got "2"'),
        ({"keepWarmMinutes": -1}, "gpuNodes.keepWarmMinutes: -1 must be at least 0"),
        ({"rootDiskGiB": 8}, "gpuNodes.rootDiskGiB: 8 must be at least 20"),
        (
            {"maxSize": 3, "gpuLimit": 3},
            "gpuNodes.maxSize: has no effect with provisioner karpenter (it is a nodeGroup "
            "setting); remove it (`pulumi config rm --path gpuNodes.maxSize`)",
        ),
        (
            {"provisioner": "nodeGroup", "keepWarmMinutes": 5},
            "gpuNodes.keepWarmMinutes: has no effect with provisioner nodeGroup (it is a "
            "karpenter setting); remove it (`pulumi config rm --path gpuNodes.keepWarmMinutes`)",
        ),
        (
            {"provisioner": "nodeGroup", "gpuLimit": 4},
            "gpuNodes.gpuLimit: has no effect with provisioner nodeGroup (it is a karpenter "
            "setting); remove it (`pulumi config rm --path gpuNodes.gpuLimit`)",
        ),
        (
            {"instanceStoreRaid0": False, "gpuLimit": 3},
            "gpuNodes.instanceStoreRaid0: has no effect with provisioner karpenter (it is a "
            "nodeGroup setting); remove it (`pulumi config rm --path "
            "gpuNodes.instanceStoreRaid0`)",
        ),
        ({"gpuLimt": 3}, 'gpuNodes.gpuLimt: is not a known key; did you mean "gpuLimit"?'),
        (
            {"instanceTypes": ["g5.12xlarge"], "gpuLimit": 3},
            "gpuNodes.gpuLimit: 3 is below the 4 GPUs of one g5.12xlarge, so Karpenter could "
            "never launch it; raise gpuLimit or drop the type",
        ),
        (
            {"gpuLimit": 1},
            "gpuNodes.gpuLimit: 1 GPUs cannot start all InferenceServices of one model at once "
            "(one per loader; needs 3); use at least 3",
        ),
    ],
)
def test_bad_gpu_nodes_are_refused_with_one_line(gpu_nodes: dict[str, Any], problem: str) -> None:
    assert problems(dev_raw(**gpu_nodes)) == [problem]


def test_a_model_is_fitted_to_the_types_that_launch() -> None:
    # 24 CPUs and 48Gi do not fit a g5.2xlarge (8 vCPUs, 32 GiB), under either provisioner.
    for raw in (
        dev_raw(instanceTypes=["g5.2xlarge"], gpuLimit=3),
        dev_raw(provisioner="nodeGroup", instanceTypes=["g5.2xlarge"]),
    ):
        assert [line.split(" (")[0] for line in problems(raw)] == [
            "models[0].resources.cpu: 24 CPUs do not fit a g5.2xlarge",
            "models[0].resources.memory: 48Gi does not fit a g5.2xlarge",
        ]
    # One type that fits is enough: Karpenter picks it for this pod.
    assert parse(dev_raw(instanceTypes=["g5.2xlarge", "g5.8xlarge"], gpuLimit=3))
    raw = dev_raw(provisioner="nodeGroup", instanceTypes=["g6e.8xlarge"])
    assert parse(raw).gpu_nodes.node_group_instance_type == "g6e.8xlarge"


def test_replicas_are_bounded_by_the_gpu_limit_under_karpenter() -> None:
    raw = dev_raw(gpuLimit=3)
    raw["models"][0]["maxReplicas"] = 4
    assert problems(raw) == [
        "models[0].maxReplicas: 4 replicas x 1 GPU never fit gpuNodes.gpuLimit 3 GPUs"
    ]
    raw = dev_raw(gpuLimit=3)
    raw["models"][0]["minReplicas"] = 2
    raw["models"][0]["maxReplicas"] = 2
    assert problems(raw) == [
        "models: the minReplicas of all models (comparisons included) need 6 GPUs at once; "
        "gpuNodes.gpuLimit 3"
    ]


def test_progress_deadline_covers_a_karpenter_node_start() -> None:
    # 695 s covers the node group's cold start (420 s node and image + 15 GiB x 18 s/GiB = 690)
    # but not Karpenter's 10 s batching window on top.
    raw = dev_raw()
    raw["knative"] = {"progressDeadlineSeconds": 695}
    assert problems(raw) == [
        "knative.progressDeadlineSeconds: 695 is below the expected cold start of model "
        '"llama-31-8b-instruct" (700 s: 420 s for node and image + 15 GiB x 18 s/GiB + 10 s '
        "Karpenter batching); use at least 700"
    ]
    raw["gpuNodes"] = {"provisioner": "nodeGroup"}
    assert parse(raw)


def test_bad_gpu_nodes_stop_the_program_before_any_resource(tmp_path: Path) -> None:
    result = run_plan(tmp_path / "plan", sets={"gpuNodes": {"provisioner": "fargate"}})
    assert isinstance(result, PlanFailure)
    assert (
        'gpuNodes.provisioner: "fargate" is not allowed; use one of karpenter, nodeGroup'
        in result.stderr
    )
    assert not (tmp_path / "plan" / "resources.json").exists()
