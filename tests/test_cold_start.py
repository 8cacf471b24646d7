"""A new GPU node in 90 s: `gpuNodes.coldStart` checks, the restored image volume and the warm
slots against the real CRDs and Kubernetes schemas, the scripts, and the phase budget."""

from __future__ import annotations

import copy
import email
import subprocess
from typing import Any

import jsonschema
import pytest
import yaml

from components.config.model import GpuNodesConfig
from components.image_mirror import GpuPathImage, ImageMirror, MirrorSettings
from components.karpenter import cold_start_budget as budget
from components.karpenter import manifests, warm_slots
from components.karpenter.builder_script import builder_script
from components.karpenter.snapshot_images import snapshot_images, unpinned
from components.serving.loaders import plan_report as loader_report
from tests.config_support import parse, problems
from tests.schemas import validate_custom_object, validate_kubernetes_object
from tools.plan.stack_config import load_stack_settings

DIGEST = "sha256:" + "a" * 64
CREDENTIAL = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:ecr-pullthroughcache/hub"
REGISTRY = "123456789012.dkr.ecr.eu-central-1.amazonaws.com"


def dev_raw(**cold_start: Any) -> dict[str, Any]:
    raw = copy.deepcopy(load_stack_settings("dev").project_values())
    if cold_start:
        raw["gpuNodes"] = {**raw.get("gpuNodes", {}), "coldStart": cold_start}
    return raw


# --- configuration ---------------------------------------------------------------------------


def test_defaults_build_the_snapshot_without_fsr_or_warm_slots() -> None:
    cold = parse(dev_raw()).gpu_nodes.cold_start
    assert cold.image_snapshot is True
    assert cold.snapshot_volume_gib == 100
    assert cold.fast_snapshot_restore_zones == ()
    assert cold.volume_initialization_rate_mibps == 300
    assert cold.warm_slots == 0


K = "gpuNodes.coldStart"


@pytest.mark.parametrize(
    ("cold_start", "expected"),
    [
        ({"warmSlots": -1}, f"{K}.warmSlots: -1 must be at least 0"),
        ({"warmSlots": 4},
         f"{K}.warmSlots: 4 warm GPUs do not fit gpuNodes.gpuLimit 3; use at most 3"),
        ({"volumeInitializationRateMiBps": 50},
         f"{K}.volumeInitializationRateMiBps: 50 must be at least 100"),
        ({"volumeInitializationRateMiBps": 400},
         f"{K}.volumeInitializationRateMiBps: 400 must be at most 300"),
        ({"snapshotVolumeGiB": 20}, f"{K}.snapshotVolumeGiB: 20 must be at least 60"),
        ({"fastSnapshotRestoreZones": ["eu-central-1"]},
         f'{K}.fastSnapshotRestoreZones[0]: "eu-central-1" is not an availability zone like '
         "eu-central-1a"),
        ({"fastSnapshotRestoreZones": ["eu-central-1a", "eu-central-1a"]},
         f"{K}.fastSnapshotRestoreZones: lists a zone twice"),
        ({"fastSnapshotRestoreZones": ["us-east-1a"]},
         f'{K}.fastSnapshotRestoreZones: "us-east-1a" is not a zone of the stack\'s region '
         "eu-central-1"),
        ({"imageSnapshot": "yes"}, f'{K}.imageSnapshot: must be true or false, got "yes"'),
        ({"warmSlot": 1}, f'{K}.warmSlot: is not a known key; did you mean "warmSlots"?'),
    ],
    ids=["negative-slots", "slots-over-limit", "rate-low", "rate-high", "small-volume",
         "region-not-zone", "zone-twice", "other-region", "bool", "typo"],
)  # fmt: skip
def test_bad_cold_start_is_refused_with_one_line(cold_start: dict[str, Any], expected: str) -> None:
    assert problems(dev_raw(**cold_start)) == [expected]


def test_fsr_needs_the_snapshot_and_the_mirror() -> None:
    raw = dev_raw(fastSnapshotRestoreZones=["eu-central-1a"], imageSnapshot=False)
    expected = (
        f"{K}.fastSnapshotRestoreZones: restores the image snapshot, which needs "
        f"{K}.imageSnapshot true and imageMirror true; use []"
    )
    assert problems(raw) == [expected]
    raw = dev_raw(fastSnapshotRestoreZones=["eu-central-1a"])
    raw["imageMirror"] = False
    assert problems(raw) == [expected]


def test_warm_slots_and_fsr_need_karpenter() -> None:
    raw = dev_raw()
    raw["gpuNodes"] = {
        "provisioner": "nodeGroup",
        "coldStart": {"warmSlots": 1, "fastSnapshotRestoreZones": ["eu-central-1a"]},
    }
    assert problems(raw) == [
        f"{K}: has no effect with provisioner nodeGroup (it is a karpenter setting); remove it "
        f"(`pulumi config rm --path {K}`)"
    ]


# --- the node class, node pool and warm slots against the real schemas ------------------------

SETTINGS = GpuNodesConfig()
FSR_SETTINGS = GpuNodesConfig.model_validate(
    {"coldStart": {"fastSnapshotRestoreZones": ["eu-central-1a", "eu-central-1b"]}}
)


def node_class(volume: manifests.ImageVolume | None) -> dict[str, Any]:
    return manifests.ec2_node_class(
        SETTINGS, "c", "role", {"project": "p"}, imds_hop_limit=1, image_volume=volume
    )


@pytest.mark.parametrize("rate", [300, 100, None], ids=["rate-300", "rate-100", "fsr"])
def test_node_class_with_the_image_volume_fits_the_crd(rate: int | None) -> None:
    document = node_class(manifests.ImageVolume("snap-0123", 100, rate))
    validate_custom_object(document)
    [root, images] = document["spec"]["blockDeviceMappings"]
    assert root["rootVolume"] is True and root["ebs"]["encrypted"] is True
    expected = {
        "snapshotID": "snap-0123",
        "volumeSize": "100Gi",
        "volumeType": "gp3",
        "iops": 6000,
        "throughput": 500,
        "deleteOnTermination": True,
    }
    if rate is not None:
        expected["volumeInitializationRate"] = rate
    assert images == {"deviceName": "/dev/xvdb", "ebs": expected}


def test_the_crd_refuses_a_rate_above_300() -> None:
    document = node_class(manifests.ImageVolume("snap-0123", 100, 301))
    with pytest.raises(jsonschema.ValidationError, match="301 is greater than the maximum of 300"):
        validate_custom_object(document)


def test_user_data_mounts_the_images_before_nodeadm_starts_containerd() -> None:
    user_data = node_class(manifests.ImageVolume("snap-0123", 100, 300))["spec"]["userData"]
    # Karpenter treats user data that starts with MIME-Version as a MIME archive (nodeadm.go).
    assert user_data.startswith("MIME-Version: 1.0\n")
    message = email.message_from_string(user_data)
    parts: list[tuple[str, str]] = [
        (part.get_content_type(), str(part.get_payload())) for part in message.walk()
    ][1:]
    assert [kind for kind, _ in parts] == ["text/x-shellscript", "application/node.eks.aws"]
    script, node_config = parts[0][1], yaml.safe_load(parts[1][1])
    assert script == manifests.image_volume_script().rstrip("\n") + "\n"
    assert node_config["spec"] == {
        "featureGates": {"FastImagePull": True},
        "instance": {
            "localStorage": {"strategy": "RAID0", "disabledMounts": ["Containerd", "SOCI"]}
        },
    }
    for mount in ("/var/lib/containerd", "/var/lib/soci-snapshotter-grpc"):
        assert f"/mnt/gpu-images/{mount.rsplit('/', 1)[1]} {mount} none bind" in script


def test_without_the_volume_the_node_class_is_unchanged() -> None:
    spec = node_class(None)["spec"]
    assert [m["deviceName"] for m in spec["blockDeviceMappings"]] == ["/dev/xvda"]
    assert spec["userData"] == manifests.node_user_data()


def test_fsr_zones_limit_the_node_pool_to_them() -> None:
    pool = manifests.node_pool(FSR_SETTINGS)
    validate_custom_object(pool)
    requirements = {r["key"]: r for r in pool["spec"]["template"]["spec"]["requirements"]}
    assert requirements["topology.kubernetes.io/zone"] == {
        "key": "topology.kubernetes.io/zone",
        "operator": "In",
        "values": ["eu-central-1a", "eu-central-1b"],
    }
    default = manifests.node_pool(SETTINGS)["spec"]["template"]["spec"]["requirements"]
    assert "topology.kubernetes.io/zone" not in {r["key"] for r in default}


@pytest.mark.parametrize("version", ["1.33", "1.34"])
def test_warm_slot_objects_fit_the_kubernetes_api(version: str) -> None:
    from tests.schemas import kubernetes_schema_version

    schema = kubernetes_schema_version(version)
    for document in (
        warm_slots.namespace(),
        warm_slots.priority_class(),
        warm_slots.deployment(2, "img:1"),
    ):
        validate_kubernetes_object(document, schema)
    broken = warm_slots.deployment(2, "img:1")
    broken["spec"]["template"]["spec"]["priorityClass"] = "typo"
    with pytest.raises(jsonschema.ValidationError):
        validate_kubernetes_object(broken, schema)


def test_placeholders_hold_a_gpu_each_below_every_model() -> None:
    pod = warm_slots.deployment(3, "img:1")["spec"]["template"]["spec"]
    assert warm_slots.priority_class()["value"] == -10
    assert warm_slots.priority_class()["preemptionPolicy"] == "Never"
    assert pod["priorityClassName"] == "gpu-warm-slot"
    assert pod["terminationGracePeriodSeconds"] == 0
    [container] = pod["containers"]
    assert container["resources"]["requests"]["nvidia.com/gpu"] == "1"
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert pod["nodeSelector"] == {
        "kserve-fluid/node-role": "gpu",
        "nvidia.com/gpu.present": "true",
    }
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False


# --- what the snapshot holds, and the scripts --------------------------------------------------


def hub_mirror() -> ImageMirror:
    return ImageMirror.for_stack(
        MirrorSettings(docker_hub_credential_arn=CREDENTIAL), "123456789012", "eu-central-1", "s"
    )


def test_a_pinned_digest_is_pulled_by_digest_and_tagged_as_pods_ask() -> None:
    path = (
        GpuPathImage(f"kserve/huggingfaceserver:v0.20.0-gpu@{DIGEST}", "serving", 10.0),
        GpuPathImage("fluidcloudnative/fluid-csi:v1.0.8-6533239", "csi", 0.2),
        GpuPathImage(f"quay.io/x/queue@{DIGEST}", "queue", 0.1),
    )
    serving, csi, queue = snapshot_images(hub_mirror(), path)
    hub = f"{REGISTRY}/s/docker-hub"
    assert serving.pull == f"{hub}/kserve/huggingfaceserver@{DIGEST}"
    assert serving.names == (f"{hub}/kserve/huggingfaceserver:v0.20.0-gpu",)
    assert csi.pull == f"{hub}/fluidcloudnative/fluid-csi:v1.0.8-6533239" and csi.names == ()
    assert queue.pull == f"{REGISTRY}/s/quay/x/queue@{DIGEST}" and queue.names == ()
    assert unpinned((serving, csi, queue)) == [csi.pull]


def test_the_stack_snapshot_holds_every_gpu_path_image_from_its_ecr() -> None:
    mirror = ImageMirror.for_stack(MirrorSettings(), "123456789012", "eu-central-1", "s")
    images = snapshot_images(mirror)
    assert len(images) == 7
    assert all(image.pull.startswith(f"{REGISTRY}/s/") for image in images)


def shell_syntax(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True)


def test_scripts_are_valid_bash_and_the_check_can_fail() -> None:
    images = snapshot_images(hub_mirror())
    builder = builder_script(images, REGISTRY, "eu-central-1")
    for script in (builder, manifests.image_volume_script()):
        assert shell_syntax(script).returncode == 0, shell_syntax(script).stderr
    assert shell_syntax(builder.replace("done", "", 1)).returncode != 0
    for image in images:
        assert f"pull {image.pull}\n" in builder and f"pin {image.pull}\n" in builder
    assert "nerdctl --namespace k8s.io pull --snapshotter soci" in builder
    assert "io.cri-containerd.pinned=pinned" in builder
    assert builder.rstrip().endswith("result ok")


# --- the phase budget -------------------------------------------------------------------------


def report(raw: dict[str, Any]) -> dict[str, Any]:
    config = parse(raw)
    return budget.plan_report(config, loader_report(config))


def cold(raw: dict[str, Any], loader: str = "cache") -> dict[str, Any]:
    return dict(report(raw)["models"]["llama-31-8b-instruct"][loader]["cold"])


def test_dev_budget_names_every_phase_with_its_source_and_milestones() -> None:
    entry = report(dev_raw())["models"]["llama-31-8b-instruct"]
    assert sorted(entry) == ["cache", "download", "stream"]
    phases = entry["cache"]["cold"]["phases"]
    assert list(phases) == ["node", "image", "weights", "engine"]
    assert phases["node"]["low"] == 71 and phases["node"]["high"] == 180
    assert phases["image"] == {
        "low": 0,
        "high": round(10 * 1024 / 300, 1),
        "source": phases["image"]["source"],
        "milestones": ["image_pulled", "container_started"],
    }
    assert phases["engine"]["low"] == 18.3 and phases["engine"]["high"] == 20.8
    milestones = [m for phase in phases.values() for m in phase["milestones"]]
    assert sorted(set(milestones)) == sorted(
        ["pod_scheduled", "nodeclaim_launched", "nodeclaim_registered",
         "nodeclaim_initialized", "node_ready", "image_pulled", "container_started",
         "first_token"]
    )  # fmt: skip
    warm = entry["cache"]["warm"]["phases"]
    assert warm["node"]["high"] == 0 and warm["image"]["high"] == 0


@pytest.mark.parametrize(
    ("raw_change", "image_high"),
    [
        ({"fastSnapshotRestoreZones": ["eu-central-1a"]}, 0),
        ({"volumeInitializationRateMiBps": 100}, 102.4),
        ({"imageSnapshot": False}, round(39.553 * 10 * 2**30 / 9354342327, 1)),
    ],
    ids=["fsr", "rate-100", "no-snapshot-soci-pull"],
)
def test_image_phase_follows_how_the_images_arrive(
    raw_change: dict[str, Any], image_high: float
) -> None:
    assert cold(dev_raw(**raw_change))["phases"]["image"]["high"] == image_high


def test_node_group_has_no_node_phase_and_pulls_sequentially() -> None:
    raw = dev_raw()
    raw["gpuNodes"] = {"provisioner": "nodeGroup"}
    phases = cold(raw)["phases"]
    assert phases["node"]["high"] == 0
    assert phases["image"]["high"] == round(130.813 * 10 * 2**30 / 9354342327, 1)


def test_a_total_above_90_s_warns_and_the_warning_names_the_model() -> None:
    result = report(dev_raw())
    total = result["models"]["llama-31-8b-instruct"]["cache"]["cold"]["total"]["high"]
    assert total > 90
    assert result["warnings"][0] == (
        f'model "llama-31-8b-instruct" [cache]: a cold GPU node can take {total:.0f} s to the '
        "first token, above the 90 s goal; gpuNodes.coldStart.warmSlots serves from a warm node"
    )


@pytest.mark.parametrize(
    ("gib", "credits"), [(100, (10, 10)), (512, (2, 2)), (1024, (1, 1)), (60, (10, 10))]
)
def test_fsr_credit_formula(gib: int, credits: tuple[float, float]) -> None:
    assert budget.fast_restore_credits(gib) == credits


def test_costs_of_fsr_and_warm_slots() -> None:
    lines = report(
        dev_raw(fastSnapshotRestoreZones=["eu-central-1a", "eu-central-1b"], warmSlots=1)
    )["costs"]
    assert lines == [
        "Fast Snapshot Restore: 2 zone(s) x $0.75/DSU-hour x 730 h = $1,095.00/month "
        "(us-east-1 price); credits per zone for a 100 GiB snapshot: 10 volumes at once, 10 more "
        "per hour; beyond them volumes initialize lazily. At most 5 snapshots per region may "
        "have FSR.",
        "warm slots: 1 GPU(s) on 1 x g5.8xlarge kept running: 730 node-hours/month = "
        "$1,787.04/month at $2.448/h on demand (us-east-1 list price)",
    ]
    assert report(dev_raw())["costs"] == []
