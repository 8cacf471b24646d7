"""The faults of issue 10, each pinned to the upstream behaviour it comes from."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from components import hostnames
from components.cache.dataload_gate import gate_script
from components.config import kserve_names
from components.config.model import ConfigError, IngressConfig, parse_config
from components.platform import exposure
from tests.plan_support import Plan, PlanFailure, run_plan
from tools.plan.stack_config import load_stack_settings, load_typed_config

ISVC = "kubernetes:serving.kserve.io/v1beta1:InferenceService"
KNATIVE_SERVING = "kubernetes:operator.knative.dev/v1beta1:KnativeServing"
RELEASE = "kubernetes:helm.sh/v3:Release"


# --- hostnames: kserve getServiceHost@v0.20.0 and Knative's DefaultDomainTemplate -----------


@pytest.mark.parametrize(
    ("predictor_host", "routed"),
    [
        # Cases of kserve's own ingress_reconciler_test.go@v0.20.0 for predictor-only services.
        ("my-model-predictor.default.example.com", "my-model.default.example.com"),
        ("my-model-predictor-default.example.com", "my-model.example.com"),
        # `-default` elsewhere and no `-predictor-default`: KServe leaves the host as it is.
        ("llama-default-predictor.ns.example.com", "llama-default-predictor.ns.example.com"),
        # Only the first `-predictor` goes.
        ("a-predictor-b-predictor.ns.example.com", "a-b-predictor.ns.example.com"),
    ],
)
def test_istio_host_is_kserves_get_service_host(predictor_host: str, routed: str) -> None:
    assert hostnames.istio_virtual_host(predictor_host) == routed


def test_hosts_per_networking_mode() -> None:
    config = load_typed_config("dev")
    assert hostnames.predictor_host(config, "m") == "m-predictor.kserve-fluid-demo.example.com"
    assert hostnames.service_host(config, "m") == "m.kserve-fluid-demo.example.com"
    kourier = config.model_copy(update={"networking": "kourier"})
    # disableIstioVirtualHost: no VirtualService, status.url is Knative's predictor host.
    assert hostnames.service_host(kourier, "m") == "m-predictor.kserve-fluid-demo.example.com"
    assert hostnames.url_pattern(kourier) == "http://{name}-predictor.kserve-fluid-demo.example.com"


def test_name_length_follows_the_knative_service_name() -> None:
    # `<isvc>-predictor` is a Kubernetes Service name: 63 characters. The namespace is no
    # longer part of that label (the old check counted `<name>-baseline-predictor-<ns>`).
    ok = "a" * 44  # + "-baseline" + "-predictor" = 63
    assert kserve_names.name_problems("models[0].name", ok, f"{ok}-baseline", "ns", "x.io") == []
    long = "a" * 45
    assert kserve_names.name_problems("models[0].name", long, f"{long}-baseline", "ns", "x.io") == [
        f'models[0].name: "{long}" is too long: KServe names the Knative Service '
        f'"{long}-baseline-predictor" (64 characters) and a Kubernetes name has at most 63; '
        "use at most 44 characters"
    ]


def test_too_long_model_name_is_refused_before_any_resource(tmp_path: Path) -> None:
    name = "llama-31-8b-instruct-with-a-much-longer-namex"  # 45 characters
    stack = yaml.safe_load((Path(__file__).resolve().parents[1] / "Pulumi.dev.yaml").read_text())
    models = stack["config"]["kserve-fluid:models"]
    models[0]["name"] = name
    result = run_plan(tmp_path, sets={"models": models})
    assert isinstance(result, PlanFailure)
    assert (
        f'models[0].name: "{name}" is too long: KServe names the Knative Service '
        f'"{name}-download-predictor" (64 characters) and a Kubernetes name has at most 63; '
        "use at most 44 characters"
    ) in result.stderr + result.stdout


# --- baseline credentials: kserve#3482 -------------------------------------------------------


def test_irsa_account_has_no_s3_endpoint(dev_plan: Plan) -> None:
    account = dev_plan.one("kubernetes:core/v1:ServiceAccount", "baseline-service-account")
    annotations = account["inputs"]["metadata"]["annotations"]
    # KServe's BuildS3EnvVars turns s3-endpoint into AWS_ENDPOINT_URL, which STS then uses.
    assert set(annotations) == {"eks.amazonaws.com/role-arn", "serving.kserve.io/s3-region"}
    assert annotations["serving.kserve.io/s3-region"] == "eu-central-1"
    secret = dev_plan.one("kubernetes:core/v1:Secret")["inputs"]["metadata"]
    assert not any(k.startswith("serving.kserve.io/") for k in secret.get("annotations", {}))


# --- cold starts are not cut off --------------------------------------------------------------


def test_request_timeout_covers_the_cold_start(dev_plan: Plan) -> None:
    config = load_typed_config("dev")
    serving = dev_plan.one(KNATIVE_SERVING)["inputs"]["spec"]["config"]
    maximum = int(serving["defaults"]["max-revision-timeout-seconds"])
    deadline = int(serving["deployment"]["progress-deadline"].removesuffix("s"))
    for service in dev_plan.of_type(ISVC):
        timeout = service["inputs"]["spec"]["predictor"]["timeout"]
        # Knative refuses a revision timeout above the maximum (revision_validation.go).
        assert timeout <= maximum
        # The activator waits this long for the pod: at least the progress deadline.
        assert timeout >= deadline
        assert timeout > max(m.expected_cold_start_seconds for m in config.models)
    assert deadline == config.knative.progress_deadline_seconds


# --- cache images and host network ---------------------------------------------------------


def test_jindo_images_if_not_present_in_container_network(dev_plan: Plan) -> None:
    spec = dev_plan.one("kubernetes:data.fluid.io/v1alpha1:JindoRuntime")["inputs"]["spec"]
    # Fluid defaults both to Always (jindocache/transform.go@v1.0.8).
    assert spec["jindoVersion"]["imagePullPolicy"] == "IfNotPresent"
    assert spec["fuse"]["imagePullPolicy"] == "IfNotPresent"
    assert spec["networkmode"] == "ContainerNetwork"


# --- exposure ---------------------------------------------------------------------------------


def test_prod_gateway_is_limited_to_its_source_cidrs(prod_plan: Plan) -> None:
    gateway = next(
        r for r in prod_plan.of_type(RELEASE) if r["inputs"]["name"] == "istio-ingressgateway"
    )
    ranges = gateway["inputs"]["values"]["service"]["loadBalancerSourceRanges"]
    assert ranges == ["198.51.100.10/32", "203.0.113.0/24"]


def test_kourier_gets_the_source_ranges_annotation() -> None:
    from components.platform.manifests import knative_serving

    config = load_typed_config("dev")
    kourier = config.model_copy(update={"networking": "kourier"})
    spec = knative_serving(kourier, ["203.0.113.0/24"])["spec"]
    (service,) = spec["services"]
    annotation = "service.beta.kubernetes.io/load-balancer-source-ranges"
    assert service["annotations"][annotation] == "203.0.113.0/24"


def _problems(ingress: Any, production: bool, endpoint: Any = ("198.51.100.0/24",)) -> list[str]:
    raw = load_stack_settings("dev").project_values()
    raw["ingress"] = ingress
    raw["clusterDeletionProtection"] = production
    raw["endpointPublicAccessCidrs"] = list(endpoint)
    with pytest.raises(ConfigError) as caught:
        parse_config(raw, project="kserve-fluid", stack="t", region="eu-central-1",
                     has_hf_token=False)  # fmt: skip
    return caught.value.problems


@pytest.mark.parametrize(
    ("ingress", "production", "line"),
    [
        (
            {"allowedSourceCidrs": []},
            True,
            "ingress.allowedSourceCidrs: is required when clusterDeletionProtection is true "
            "(a production stack); list the client networks allowed to call the models",
        ),
        (
            {"allowedSourceCidrs": ["10.0.0.0/8", "0.0.0.0/0"]},
            True,
            "ingress.allowedSourceCidrs: 0.0.0.0/0 opens a production stack's GPUs to the "
            "internet; list the client networks instead",
        ),
        (
            {"allowedSourceCidrs": ["10.0.0.300/8"]},
            False,
            'ingress.allowedSourceCidrs[0]: "10.0.0.300/8" is not an IPv4 CIDR block like '
            "203.0.113.0/24 (the ingress load balancer is IPv4)",
        ),
        (
            {"allowedSourceCidrs": ["2001:db8::/32"]},
            False,
            'ingress.allowedSourceCidrs[0]: "2001:db8::/32" is not an IPv4 CIDR block like '
            "203.0.113.0/24 (the ingress load balancer is IPv4)",
        ),
        (
            {"allowedSourceCidrs": "10.0.0.0/8"},
            False,
            'ingress.allowedSourceCidrs: must be a list, got "10.0.0.0/8"',
        ),
        (
            {"allowedSourceCIDRs": ["10.0.0.0/8"]},
            False,
            'ingress.allowedSourceCIDRs: is not a known key; did you mean "allowedSourceCidrs"?',
        ),
    ],
)
def test_bad_ingress_settings(ingress: Any, production: bool, line: str) -> None:
    assert _problems(ingress, production) == [line]


def test_production_refuses_cidr_lists_that_add_up_to_the_internet() -> None:
    halves = ["0.0.0.0/1", "128.0.0.0/1"]
    assert _problems({"allowedSourceCidrs": halves}, True) == [
        "ingress.allowedSourceCidrs: 0.0.0.0/1, 128.0.0.0/1 together cover the whole internet, "
        "which opens a production stack's GPUs to everyone like 0.0.0.0/0; list the client "
        "networks instead"
    ]
    quarters = ["0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/2", "192.0.0.0/2"]
    assert _problems({"allowedSourceCidrs": ["203.0.113.0/24"]}, True, quarters) == [
        "endpointPublicAccessCidrs: 0.0.0.0/2, 64.0.0.0/2, 128.0.0.0/2, 192.0.0.0/2 together "
        "cover the whole internet, which opens a production stack's Kubernetes API to everyone "
        "like 0.0.0.0/0; list the networks instead"
    ]
    assert _problems({"allowedSourceCidrs": ["203.0.113.0/24"]}, True, ["0.0.0.0/0"]) == [
        "endpointPublicAccessCidrs: 0.0.0.0/0 opens a production stack's Kubernetes API to the "
        "internet; list the networks instead"
    ]
    # Three quarters is not everything; a dev stack may stay open.
    for ingress, production, endpoint in (
        (halves[:1], True, quarters[:3]),
        (halves, False, ["0.0.0.0/0"]),
    ):
        raw = load_stack_settings("dev").project_values()
        raw |= {"ingress": {"allowedSourceCidrs": ingress}, "endpointPublicAccessCidrs": endpoint}
        raw["clusterDeletionProtection"] = production
        assert parse_config(
            raw, project="kserve-fluid", stack="t", region="eu-central-1", has_hf_token=False
        )


def test_source_ranges_are_sorted_and_open_means_none() -> None:
    config = load_typed_config("prod")
    assert exposure.source_ranges(config) == ["198.51.100.10/32", "203.0.113.0/24"]
    dev = load_typed_config("dev")
    assert exposure.source_ranges(dev) == []
    opened = dev.model_copy(
        update={"ingress": IngressConfig.model_validate({"allowedSourceCidrs": ["0.0.0.0/0"]})}
    )
    assert exposure.source_ranges(opened) == []


def test_prod_without_source_cidrs_is_refused(tmp_path: Path) -> None:
    result = run_plan(tmp_path, stack="prod", sets={"ingress": {}})
    assert isinstance(result, PlanFailure)
    assert (
        "ingress.allowedSourceCidrs: is required when clusterDeletionProtection is true (a "
        "production stack); list the client networks allowed to call the models"
    ) in (result.stderr + result.stdout)


# --- dependencies -----------------------------------------------------------------------------


@pytest.mark.parametrize("provisioner", ["karpenter", "nodeGroup"])
def test_gpu_capacity_and_trimmed_edges(
    provisioner: str, dev_plan: Plan, node_group_plan: Plan
) -> None:
    plan = dev_plan if provisioner == "karpenter" else node_group_plan
    # The one GPU-capacity handle: Karpenter's NodePool, or the managed GPU node group.
    gpu = (
        plan.one("kubernetes:karpenter.sh/v1:NodePool")
        if provisioner == "karpenter"
        else plan.one("eks:index:ManagedNodeGroup", "cluster-gpu")
    )
    data = plan.one("eks:index:ManagedNodeGroup", "cluster-data")
    releases = {r["inputs"]["name"]: r for r in plan.of_type(RELEASE)}
    runtime = plan.one("kubernetes:data.fluid.io/v1alpha1:JindoRuntime")
    # Pods on GPU nodes: destroy removes these while the GPU nodes still run.
    for resource in (*plan.of_type(ISVC), runtime):
        assert gpu["urn"] in resource["dependencies"], resource["name"]
    # Fluid's release needs no GPU node (controllers on the data nodes, a CSI DaemonSet): waiting
    # for the NodePool put Karpenter's release on `pulumi up`'s critical path (issue 20).
    assert not plan.depends_on(releases["fluid"], gpu)
    # Node groups come after their role's policies and go before them.
    policy = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
    attachments = [r["urn"] for r in plan.of_type(policy) if "node-role-policy" in r["name"]]
    assert attachments
    for group in plan.of_type("eks:index:ManagedNodeGroup"):
        assert set(attachments) <= set(group["dependencies"]), group["name"]
    # Only the API server: CRD-only releases and Namespaces.
    for name in ("kserve-crd", "istio-base"):
        assert not plan.depends_on(releases[name], data), name
    for namespace in plan.of_type("kubernetes:core/v1:Namespace"):
        assert not plan.depends_on(namespace, data), namespace["name"]
    # KnativeServing does not wait for the gateway; the InferenceServices do.
    serving = plan.one(KNATIVE_SERVING)
    assert not plan.depends_on(serving, releases["istio-ingressgateway"])
    for service in plan.of_type(ISVC):
        assert plan.depends_on(service, releases["istio-ingressgateway"])
    # The warm-up ServingRuntime needs the webhook, not the built-in runtimes.
    csr = plan.one("kubernetes:serving.kserve.io/v1alpha1:ServingRuntime")
    assert not plan.depends_on(csr, releases["kserve-runtime-configs"])
    assert plan.depends_on(csr, plan.one("kubernetes:batch/v1:Job", "wait-for-kserve-webhook"))
    # The S3 loaders (download, stream) read S3, not the cache: no DataLoad edge; they run a
    # built-in runtime (download auto-selects it, stream names it).
    from_s3 = [s for s in plan.of_type(ISVC) if s["name"].endswith(("-download", "-stream"))]
    assert len(from_s3) == 2
    for service in from_s3:
        for load in plan.of_type("kubernetes:data.fluid.io/v1alpha1:DataLoad"):
            assert not plan.depends_on(service, load)
        assert plan.depends_on(service, releases["kserve-runtime-configs"])
    fluid = next(s for s in plan.of_type(ISVC) if s["name"] == "llama-31-8b-instruct")
    gate = plan.one("kubernetes:batch/v1:Job", "llama-31-8b-instruct-dataload-gate")
    assert gate["urn"] in fluid["dependencies"]


def test_dataload_is_not_awaited_by_waitfor(dev_plan: Plan) -> None:
    for load in dev_plan.of_type("kubernetes:data.fluid.io/v1alpha1:DataLoad"):
        assert "pulumi.com/waitFor" not in load["inputs"]["metadata"].get("annotations", {})


# --- the DataLoad gate script, run by sh against a local API stand-in -----------------------


@pytest.fixture()
def api() -> Iterator[dict[str, Any]]:
    state: dict[str, Any] = {"phases": [], "auth": []}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            state["auth"].append(self.headers.get("Authorization"))
            phase = state["phases"].pop(0) if len(state["phases"]) > 1 else state["phases"][0]
            body = json.dumps({"metadata": {"name": "x"}, "status": {"phase": phase}}, indent=1)
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state["url"] = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def _gate(api: dict[str, Any], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    (tmp_path / "token").write_text("tok")
    (tmp_path / "ca.crt").write_text("")
    env = {"API_SERVER": api["url"], "SA_DIR": str(tmp_path), "POLL_SECONDS": "0.05",
           "PATH": "/usr/bin:/bin"}  # fmt: skip
    script = gate_script("ns", "m-dataload")
    return subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True,
                          timeout=30, check=False)  # fmt: skip


def test_gate_succeeds_when_the_dataload_completes(api: dict[str, Any], tmp_path: Path) -> None:
    api["phases"] = ["", "Executing", "Complete"]
    done = _gate(api, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "DataLoad ns/m-dataload: Complete"
    assert api["auth"][0] == "Bearer tok"


def test_gate_fails_at_once_when_the_dataload_fails(api: dict[str, Any], tmp_path: Path) -> None:
    api["phases"] = ["Executing", "Failed"]
    done = _gate(api, tmp_path)
    assert done.returncode == 1
    assert done.stdout.splitlines()[-1] == "DataLoad ns/m-dataload: Failed"
    assert done.stderr.startswith("DataLoad m-dataload failed:\n{")


def test_a_changed_dataload_replaces_its_gate() -> None:
    from components.cache.dataload_gate import SPEC_ANNOTATION, gate_job

    config = load_typed_config("dev")
    model = config.models[0]
    more = config.model_copy(update={"models": (model.model_copy(update={"cache_replicas": 2}),)})

    def digest(c: Any) -> str:
        template = gate_job(c, c.models[0], "curl")["spec"]["template"]
        return str(template["metadata"]["annotations"][SPEC_ANNOTATION])

    assert digest(config) == digest(config)
    assert digest(config) != digest(more)
