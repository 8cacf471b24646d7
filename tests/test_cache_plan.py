"""The plan shows how fast each stack's cache feeds one GPU node, and prod renders a MEM tier."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.cache.throughput import plan_report
from components.config.model import GpuNodesConfig
from tests.plan_support import Plan, PlanFailure, run_plan
from tests.schemas import validate_custom_object
from tools.plan.render import print_cache_throughput
from tools.plan.stack_config import load_typed_config

RUNTIME = "kubernetes:data.fluid.io/v1alpha1:JindoRuntime"
MODEL = "llama-31-8b-instruct"


def test_dev_keeps_the_seed_setup_and_its_slower_figure(dev_plan: Plan) -> None:
    report = dev_plan.outputs["cacheThroughput"]
    entry = report["models"][MODEL]
    assert entry["baseline"]["binding"] == "worker EBS bandwidth"
    assert entry["baseline"]["seconds"] == pytest.approx(15 * 2**30 / (3 * 143.75e6), abs=0.01)
    assert entry["burst"]["binding"] == "worker disk"
    assert report["warnings"][0].startswith("dataNodeGroup.cacheVolumeThroughputMiBps: 250 MiB/s")
    level = dev_plan.one(RUNTIME)["inputs"]["spec"]["tieredstore"]["levels"][0]
    assert (level["mediumtype"], level["path"]) == ("SSD", "/mnt/ssd0/cache")


def test_prod_serves_the_model_within_ten_seconds_at_baseline(prod_plan: Plan) -> None:
    report = prod_plan.outputs["cacheThroughput"]
    baseline = report["models"][MODEL]["baseline"]
    assert baseline["seconds"] <= 10
    assert baseline["binding"] == "per-flow limit"
    assert report["warnings"] == []
    runtime = prod_plan.one(RUNTIME)["inputs"]
    level = runtime["spec"]["tieredstore"]["levels"][0]
    assert level["mediumtype"] == "MEM"
    assert level["volumeSource"] == {"emptyDir": {"medium": "Memory", "sizeLimit": "16Gi"}}
    validate_custom_object({k: runtime[k] for k in ("apiVersion", "kind", "metadata", "spec")})


def test_plan_prints_one_line_per_model(dev_plan: Plan, capsys: pytest.CaptureFixture[str]) -> None:
    print_cache_throughput(dev_plan.outputs["cacheThroughput"])
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("cache -> one GPU node (assumes the Jindo client reads")
    assert printed[1] == (
        f"  {MODEL} (15 GiB): 37.3 s at baseline (bound by worker EBS bandwidth: 3 x m5n.xlarge "
        "baseline 143.75 MB/s), 20.5 s at burst (bound by worker disk: 3 x gp3 cache volume "
        "250 MiB/s)"
    )
    assert printed[2].startswith("  warning: dataNodeGroup.cacheVolumeThroughputMiBps")


def test_each_warning_is_printed_once(dev_plan: Plan) -> None:
    (warning,) = dev_plan.outputs["cacheThroughput"]["warnings"]
    assert dev_plan.output.count(warning) == 1, dev_plan.output


@pytest.mark.parametrize(
    ("gpu_nodes", "reader", "binding"),
    [
        ({"instanceTypes": ["g5.8xlarge"]}, "g5.8xlarge", "per-flow limit"),
        # Karpenter may launch either type: the estimate is the slower one's.
        ({"instanceTypes": ["g5.8xlarge", "g6.xlarge"]}, "g6.xlarge", "GPU node network"),
        ({"instanceTypes": ["g6.xlarge", "g5.8xlarge"]}, "g6.xlarge", "GPU node network"),
        ({"provisioner": "nodeGroup", "instanceTypes": ["g6.xlarge"]}, "g6.xlarge",
         "GPU node network"),
    ],
)  # fmt: skip
def test_the_estimate_reads_with_the_gpu_types_that_launch(
    gpu_nodes: dict[str, object], reader: str, binding: str
) -> None:
    prod = load_typed_config("prod")
    config = prod.model_copy(update={"gpu_nodes": GpuNodesConfig.model_validate(gpu_nodes)})
    entry = plan_report(config)["models"][MODEL]
    assert (entry["gpuNodeType"], entry["baseline"]["binding"]) == (reader, binding)


def test_a_failed_plan_leaves_no_earlier_plan_behind(tmp_path: Path) -> None:
    out = tmp_path / "plan"
    (out / "manifests").mkdir(parents=True)
    (out / "resources.json").write_text('{"stack": "dev", "resources": []}')
    result = run_plan(out, sets={"gpuNodes": {"provisioner": "fargate"}})
    assert isinstance(result, PlanFailure) and result.returncode == 2
    assert not out.exists()


def test_every_loader_estimate_reads_with_the_slowest_type_that_may_launch() -> None:
    from components.serving.loaders import loader_estimates

    prod = load_typed_config("prod")
    model = prod.models[0]
    one = loader_estimates(prod, model)
    two = loader_estimates(
        prod.model_copy(
            update={
                "gpu_nodes": GpuNodesConfig.model_validate(
                    {"instanceTypes": ["g5.8xlarge", "g6.xlarge"]}
                )
            }
        ),
        model,
    )
    for loader in ("cache", "stream", "download"):
        assert two[loader][0].seconds >= one[loader][0].seconds, loader
    assert two["stream"][0].binding_names == "GPU node network"
    assert "g6.xlarge" in two["stream"][0].binding[0].detail
