"""Every image a cold GPU node pulls comes from the stack's ECR with the mirror on, and from
its upstream with it off: derived from the plan and the real charts (tests/gpu_images.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from components.image_mirror import GPU_PATH_IMAGES, ImageRef
from tests.gpu_images import GpuImage, gpu_images
from tests.plan_support import Plan, PlanFailure, render, run_plan
from tools.plan.render import ACCOUNT_ID

ECR = f"{ACCOUNT_ID}.dkr.ecr.eu-central-1.amazonaws.com"
JOB = "kubernetes:batch/v1:Job"
RULE = "aws:ecr/pullThroughCacheRule:PullThroughCacheRule"
REPOSITORY = "aws:ecr/repository:Repository"

SCENARIOS: dict[str, tuple[str, dict[str, object]]] = {
    "dev-off": ("dev", {"imageMirror": False}),
    "prod-off": ("prod", {"imageMirror": False}),
    # The managed node group instead of Karpenter (gpuNodes.provisioner: nodeGroup).
    "dev-node-group": (
        "dev",
        {
            "gpuNodes": {
                "provisioner": "nodeGroup",
                "instanceTypes": ["g5.8xlarge"],
                "capacityType": "ON_DEMAND",
                "maxSize": 2,
                "rootDiskGiB": 100,
            }
        },
    ),
}


@pytest.fixture(scope="module")
def plans(
    dev_plan: Plan, prod_plan: Plan, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str], Plan]:
    cache: dict[str, Plan] = {"dev-on": dev_plan, "prod-on": prod_plan}

    def get(name: str) -> Plan:
        if name not in cache:
            stack, sets = SCENARIOS[name]
            cache[name] = render(tmp_path_factory.mktemp(f"plan-{name}"), stack=stack, sets=sets)
        return cache[name]

    return get


def _copy_jobs(plan: Plan) -> dict[str, dict[str, str]]:
    """Destination -> the copy Job's environment, for every image copy Job of the plan."""
    jobs = {}
    for job in plan.of_type(JOB):
        if not job["inputs"]["metadata"]["name"].startswith("copy-"):
            continue
        container = job["inputs"]["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e.get("value", "") for e in container["env"]}
        jobs[env["DESTINATION"]] = env
    return jobs


def _how_it_reaches_ecr(plan: Plan, image: GpuImage) -> str:
    """'pull-through <prefix>' or 'copied from <source>'; fails when neither applies."""
    assert image.image.startswith(f"{ECR}/"), f"{image.source}: {image.image} is not in ECR"
    ref = ImageRef.parse(image.image)
    prefixes = [r["inputs"]["ecrRepositoryPrefix"] for r in plan.of_type(RULE)]
    for prefix in prefixes:
        if ref.repository.startswith(f"{prefix}/"):
            return f"pull-through {prefix}"
    repositories = {r["inputs"]["name"] for r in plan.of_type(REPOSITORY)}
    assert ref.repository in repositories, f"{image.source}: no ECR repository {ref.repository}"
    jobs = _copy_jobs(plan)
    matching = [
        env
        for destination, env in jobs.items()
        if destination.rpartition(":")[0] == f"{ECR}/{ref.repository}"
        and (destination.endswith(f":{ref.tag}") if ref.tag else env["PINNED_DIGEST"] == ref.digest)
    ]
    assert matching, f"{image.source}: no copy Job fills {image.image}"
    return f"copied from {matching[0]['SOURCE']}"


@pytest.mark.parametrize("scenario", ["dev-on", "prod-on", "dev-node-group"])
def test_every_gpu_image_is_in_the_stacks_ecr(scenario: str, plans: Callable[[str], Plan]) -> None:
    plan = plans(scenario)
    images = gpu_images(plan)
    how = {image.image: _how_it_reaches_ecr(plan, image) for image in images}
    assert len(how) >= len(GPU_PATH_IMAGES)


@pytest.mark.parametrize("scenario", ["dev-off", "prod-off"])
def test_mirror_off_restores_upstream_references(
    scenario: str, plans: Callable[[str], Plan]
) -> None:
    plan = plans(scenario)
    images = gpu_images(plan)
    assert images and not [i for i in images if ".dkr.ecr." in i.image]
    assert not plan.of_type(RULE) and not plan.of_type(REPOSITORY)
    assert not _copy_jobs(plan)


def _unpinned(reference: str) -> tuple[str, str, str | None]:
    ref = ImageRef.parse(reference)
    return ref.host, ref.repository, ref.tag


def test_the_mirror_list_covers_every_image_the_charts_put_on_a_gpu_node(
    plans: Callable[[str], Plan],
) -> None:
    """With the mirror off the references are the charts' own (with the pinned digests): each
    must be in GPU_PATH_IMAGES, or the mirror would leave it upstream."""
    listed = {_unpinned(i.upstream) for i in GPU_PATH_IMAGES}
    images = gpu_images(plans("dev-off"))
    unlisted = [i for i in images if _unpinned(i.image) not in listed]
    assert not unlisted
    sources = " ".join(i.source for i in images)
    for workload in (
        "nvidia-device-plugin",
        "csi-nodeplugin-fluid",
        "JindoRuntime/s3-data fuse",
        "queue-proxy",
        "storage-initializer",
        "runtime custom-kserve-huggingfaceserver",
        "runtime kserve-huggingfaceserver",
    ):
        assert workload in sources, f"{workload} not found on the GPU path"


def test_docker_hub_goes_through_the_cache(plans: Callable[[str], Plan]) -> None:
    """With the (required) credential, Docker Hub images come through the cache; the serving
    image is copied from that cache into an immutable repository (KServe composes its tag)."""
    plan = plans("dev-on")
    rules = {r["inputs"]["upstreamRegistryUrl"]: r["inputs"] for r in plan.of_type(RULE)}
    assert rules["registry-1.docker.io"]["credentialArn"].startswith(
        f"arn:aws:secretsmanager:eu-central-1:{ACCOUNT_ID}:secret:ecr-pullthroughcache/"
    )
    how = {_how_it_reaches_ecr(plan, i) for i in gpu_images(plan)}
    assert "pull-through kserve-fluid-dev/docker-hub" in how
    assert (
        f"copied from {ECR}/kserve-fluid-dev/docker-hub/kserve/huggingfaceserver:v0.20.0-gpu"
    ) in how
    assert not [s for s in (env["SOURCE"] for env in _copy_jobs(plan).values()) if "docker.io" in s]


def test_copies_come_from_registries_ecr_cannot_cache_or_from_the_cache(
    plans: Callable[[str], Plan],
) -> None:
    plan = plans("dev-on")
    hosts = {ImageRef.parse(env["SOURCE"]).host for env in _copy_jobs(plan).values()}
    assert hosts == {"nvcr.io", "registry.cn-shanghai.aliyuncs.com", "gcr.io", ECR}


def test_objects_that_pull_wait_for_their_images(plans: Callable[[str], Plan]) -> None:
    plan = plans("dev-on")
    jobs = {j["name"]: j for j in plan.of_type(JOB) if j["name"].startswith("images-copy-")}
    rules = {r["name"]: r for r in plan.of_type(RULE)}
    device_plugin = plan.one("kubernetes:helm.sh/v3:Release", "nvidia-device-plugin")
    fluid = plan.one("kubernetes:helm.sh/v3:Release", "fluid")
    operator = plan.one("kubernetes:helm.sh/v3:Release", "knative-operator")
    karpenter = plan.one("kubernetes:helm.sh/v3:Release", "karpenter")
    runtime = plan.one("kubernetes:data.fluid.io/v1alpha1:JindoRuntime")
    isvc = plan.one("kubernetes:serving.kserve.io/v1beta1:InferenceService", "llama-31-8b-instruct")
    waits = {
        "images-copy-nvcr.io-nvidia-k8s-device-plugin": device_plugin,
        "images-copy-registry.cn-shanghai.aliyuncs.com-jindofs-jindo-fuse": runtime,
        "images-copy-docker.io-kserve-huggingfaceserver": isvc,
        "images-copy-gcr.io-knative-releases-knative.dev-serving-cmd-queue": isvc,
        "images-copy-gcr.io-knative-releases-knative.dev-operator-cmd-operator": operator,
    }
    for job, dependent in waits.items():
        assert plan.depends_on(dependent, jobs[job]), f"{dependent['name']} does not wait for {job}"
    assert plan.depends_on(fluid, rules["images-docker-hub"])
    assert plan.depends_on(karpenter, rules["images-ecr-public"])
    # A copy read through the cache waits for the rules; nothing waits on a copy it does not need.
    assert plan.depends_on(
        jobs["images-copy-docker.io-kserve-huggingfaceserver"], rules["images-docker-hub"]
    )
    assert not plan.depends_on(fluid, jobs["images-copy-docker.io-kserve-huggingfaceserver"])


def test_bad_mirror_settings_stop_the_program_before_any_resource(scratch: Path) -> None:
    result = run_plan(scratch, sets={"dockerHubCredentialArn": "docker-hub-token"})
    assert isinstance(result, PlanFailure) and result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "invalid stack configuration (1 problems):",
        'dockerHubCredentialArn: "docker-hub-token" must be empty or the ARN of a Secrets '
        "Manager secret named ecr-pullthroughcache/<name> (ECR refuses other names)",
    ]
    assert not (scratch / "resources.json").exists()


def test_a_non_boolean_image_mirror_is_refused_as_the_cli_would(scratch: Path) -> None:
    result = run_plan(scratch, sets={"imageMirror": "sometimes"})
    assert isinstance(result, PlanFailure) and result.returncode == 2
    assert result.stderr.strip() == (
        "plan: Stack 'dev' with configuration key 'imageMirror' must be of type 'boolean'"
    )


def test_every_gpu_node_role_may_pull_through_the_cache(plans: Callable[[str], Plan]) -> None:
    """Karpenter's node role (GPU nodes) and the managed nodes' role both get the policy."""
    plan = plans("dev-on")
    policy = plan.one("aws:iam/policy:Policy", "images-pull-through")
    attached = {
        a["inputs"]["role"]
        for a in plan.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if a["inputs"]["policyArn"] == f"arn:aws:iam::{ACCOUNT_ID}:policy/{policy['name']}"
    }
    karpenter = plan.one("aws:iam/role:Role", "karpenter-node-role")
    # ... and the GPU image snapshot's builder, which pulls the same images (issue 23).
    assert attached == {karpenter["name"], "cluster-node-role", "gpu-images-builder-role"}
