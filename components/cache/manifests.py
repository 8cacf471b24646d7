"""Pure builders for the model cache: Fluid values, credentials, Dataset, JindoRuntime, DataLoad.

The seed's `jindo.yaml`, `dataload.yaml` and `s3creds.yaml` (facts §1), made right for EKS and
current Fluid: explicit `fuse.cleanPolicy`, workers pinned to the data nodes, tiered store at the
data nodes' cache volume, FUSE only on GPU nodes.
"""

from __future__ import annotations

from typing import Any

from components import versions
from components.config.model import ModelConfig, StackConfig
from components.image_mirror import UPSTREAM, ImageMirror
from components.naming import INSTANCE_TYPE_LABEL, NODE_ROLE_LABEL, data_node_labels, gpu_toleration

DATASET_NAME = "s3-data"
CREDENTIALS_SECRET = "s3creds"
ACCESS_KEY_ID = "AWS_ACCESS_KEY_ID"
SECRET_ACCESS_KEY = "AWS_SECRET_ACCESS_KEY"
FLUID_NAMESPACE = "fluid-system"
FLUID_RUNTIMES = ("alluxio", "jindo", "goosefs", "juicefs", "thin", "efc", "vineyard")
RUNTIME_START_SECONDS = 1200  # Jindo images come from a registry in Shanghai (facts §0.5)


def fluid_values(mirror: ImageMirror = UPSTREAM) -> dict[str, Any]:
    """Jindo controller always on; CSI without kubelet node authorization (EKS, fluid#4496).

    The CSI images and the Jindo defaults the controller passes to every runtime (env
    `JINDO_*_IMAGE_ENV`, fluid-1.0.8 templates/controller/jindoruntime_controller.yaml) come
    from the image mirror.
    """
    # The chart's controllers, webhook and CRD upgrader tolerate every taint (`operator:
    # Exists`, fluid-1.0.8 values.yaml), so they could land on a GPU node and keep it from
    # scaling in; without tolerations they stay on the data nodes. The CSI plugin keeps them.
    off_gpu_nodes: dict[str, Any] = {"tolerations": []}
    images = versions.FLUID_CONTROLLER_IMAGES

    def controller(name: str) -> dict[str, str]:
        return mirror.fluid_image(images[name])

    # Every image of the chart from the mirror (fluid-1.0.8 values.yaml: `crdUpgrade` and
    # `webhook` hold theirs at the top, the others under `controller`).
    runtimes: dict[str, Any] = {
        name: {**off_gpu_nodes, "controller": controller(f"{name}runtime-controller")}
        for name in FLUID_RUNTIMES
    }
    runtimes["jindo"].update(
        enabled=True,
        smartdata=mirror.fluid_image(versions.JINDO_SMARTDATA_IMAGE),
        fuse=mirror.fluid_image(versions.JINDO_FUSE_IMAGE),
    )
    return {
        "crdUpgrade": {**off_gpu_nodes, **controller("fluid-crd-upgrader")},
        "dataset": {**off_gpu_nodes, "controller": controller("dataset-controller")},
        "webhook": {**off_gpu_nodes, **controller("fluid-webhook")},
        "fluidapp": {**off_gpu_nodes, "controller": controller("application-controller")},
        "runtime": runtimes,
        "csi": {
            "useNodeAuthorization": False,
            "registrar": mirror.fluid_image(versions.FLUID_CSI_REGISTRAR_IMAGE),
            "plugins": mirror.fluid_image(versions.FLUID_CSI_PLUGIN_IMAGE),
        },
    }


def s3_endpoint(region: str) -> str:
    return f"s3.{region}.amazonaws.com"


def irsa_s3_annotations(region: str) -> dict[str, str]:
    """What KServe's storage initializer reads from an IRSA service account: the region only.

    KServe turns these annotations into env vars only on a service account carrying
    `eks.amazonaws.com/role-arn` (kserve/kserve:pkg/credentials/service_account_credentials.go
    @v0.20.0) through `BuildS3EnvVars` (pkg/credentials/s3/utils.go@v0.20.0). `s3-endpoint` becomes
    `AWS_ENDPOINT_URL`, which botocore also applies to STS `AssumeRoleWithWebIdentity`, so the role
    cannot be assumed (kserve#3482); `s3-usehttps` is read only together with an endpoint, so it
    is left out too; boto3 then uses the regional HTTPS endpoint of S3 and of STS.
    """
    return {"serving.kserve.io/s3-region": region}


def namespace(config: StackConfig) -> dict[str, Any]:
    # Fluid starts the Jindo master, workers and FUSE DaemonSet in the Dataset's namespace,
    # with host network, hostPath and privileged FUSE: baseline would refuse them. Violations
    # of baseline by anything else are still reported (warn, audit).
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": config.model_namespace,
            "labels": {
                "pod-security.kubernetes.io/enforce": "privileged",
                "pod-security.kubernetes.io/warn": "baseline",
                "pod-security.kubernetes.io/audit": "baseline",
            },
        },
    }


def credentials_secret(config: StackConfig) -> dict[str, Any]:
    """The Secret JindoFS reads its keys from; the values are filled in by the component."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": CREDENTIALS_SECRET,
            # No serving.kserve.io/s3-* annotations: KServe reads them only from a Secret that a
            # service account lists or `storageSecretName` names, and this one is JindoFS's alone
            # (the Dataset's encryptOptions); the baseline uses IRSA.
            "namespace": config.model_namespace,
        },
    }


def mount_path(model: ModelConfig) -> str:
    return f"/{model.name}"


def dataset(config: StackConfig, bucket: str) -> dict[str, Any]:
    """One Dataset, one mount per model, read-only, cached on the data nodes."""
    region = config.region

    def key_ref(name: str, key: str) -> dict[str, Any]:
        return {
            "name": name,
            "valueFrom": {"secretKeyRef": {"name": CREDENTIALS_SECRET, "key": key}},
        }

    mounts = [
        {
            "name": model.name,
            "path": mount_path(model),
            "mountPoint": f"s3://{bucket}/{model.s3_prefix}/",
            "readOnly": True,
            "options": {"fs.s3.region": region, "fs.s3.endpoint": s3_endpoint(region)},
            "encryptOptions": [
                key_ref("fs.s3.accessKeyId", ACCESS_KEY_ID),
                key_ref("fs.s3.accessKeySecret", SECRET_ACCESS_KEY),
            ],
        }
        for model in config.models
        if model.uses_cache
    ]
    data_selector = [
        {
            "key": INSTANCE_TYPE_LABEL,
            "operator": "In",
            "values": [config.data_node_group.instance_type],
        },
        {"key": NODE_ROLE_LABEL, "operator": "In", "values": [data_node_labels()[NODE_ROLE_LABEL]]},
    ]
    return {
        "apiVersion": "data.fluid.io/v1alpha1",
        "kind": "Dataset",
        # No readiness wait here: Fluid binds the Dataset only once the JindoRuntime, created
        # after it (so that destroy removes the runtime first), is up. The DataLoads' Complete
        # wait covers both.
        "metadata": {"name": DATASET_NAME, "namespace": config.model_namespace},
        "spec": {
            "mounts": mounts,
            "accessModes": ["ReadOnlyMany"],
            "placement": "Shared",
            "nodeAffinity": {
                "required": {"nodeSelectorTerms": [{"matchExpressions": data_selector}]}
            },
        },
    }


MEM_CACHE_PATH = "/dev/shm/jindo-cache"


def cache_level(config: StackConfig) -> dict[str, Any]:
    """The one tiered-store level: the gp3 volume's mount (SSD) or worker memory (MEM).

    MEM uses an emptyDir in memory sized to the quota (tieredstore.levels[].volumeType emptyDir
    and volumeSource, data.fluid.io_jindoruntimes.yaml), not the node's /dev/shm, whose tmpfs
    size is the kernel's default half of RAM. Fluid takes the medium from volumeSource.emptyDir
    (fluid-cloudnative/fluid:pkg/ddc/jindocache/transform.go@v1.0.8,
    getMediumTypeFromVolumeSource) and its worker chart renders `emptyDir: {medium: Memory,
    sizeLimit: <quota>}` (charts/jindocache/templates/worker/statefulset.yaml@v1.0.8).
    """
    cache = config.model_cache
    level: dict[str, Any] = {
        "mediumtype": cache.medium,
        "volumeType": "hostPath",
        "path": cache.path,
        "quota": f"{cache.quota_gib}Gi",
        "high": f"{cache.high_watermark}",
        "low": f"{cache.low_watermark}",
    }
    if cache.medium == "MEM":
        level["volumeType"] = "emptyDir"
        level["path"] = MEM_CACHE_PATH
        level["volumeSource"] = {
            "emptyDir": {"medium": "Memory", "sizeLimit": f"{cache.quota_gib}Gi"}
        }
    return level


def jindo_runtime(config: StackConfig, mirror: ImageMirror = UPSTREAM) -> dict[str, Any]:
    """Workers on every data node with the cache tier (SSD volume or memory); FUSE on GPU nodes."""
    cache = config.model_cache
    data_nodes = data_node_labels()
    return {
        "apiVersion": "data.fluid.io/v1alpha1",
        "kind": "JindoRuntime",
        "metadata": {"name": DATASET_NAME, "namespace": config.model_namespace},
        "spec": {
            "replicas": config.cache_workers,
            # Pod network instead of the node's: fluid-cloudnative/fluid:pkg/ddc/jindocache/
            # transform.go@v1.0.8 `transformNetworkMode` maps ContainerNetwork to
            # useHostNetwork=false, and charts/jindocache/templates/{master,worker}/statefulset.yaml
            # and fuse/daemonset.yaml then run without hostNetwork (workers advertise status.podIP,
            # fixed ports). Off the host network, the IMDS hop limit of 1 keeps the Jindo pods
            # from the node role's credentials.
            "networkmode": "ContainerNetwork",
            # Fluid defaults every Jindo image to imagePullPolicy Always (transform.go@v1.0.8
            # `getSmartDataConfigs`, `parseFuseImage`); jindo_image pins IfNotPresent, and the image
            # itself comes from the image mirror (ECR) or the fluid chart's pinned tag.
            "jindoVersion": mirror.jindo_image(versions.JINDO_SMARTDATA_IMAGE),
            "tieredstore": {"levels": [cache_level(config)]},
            "master": {"nodeSelector": data_nodes},
            "worker": {"nodeSelector": data_nodes},
            "fuse": {
                **mirror.jindo_image(versions.JINDO_FUSE_IMAGE),
                "cleanPolicy": cache.fuse_clean_policy,
                "nodeSelector": {NODE_ROLE_LABEL: "gpu"},
                "tolerations": [gpu_toleration()],
                # Fluid 1.0.8 runs the jindocache engine (charts/fluid/fluid/values.yaml@v1.0.8
                # runtime.jindo.engine), whose FUSE reads `fs.jindocache.*` keys and enables
                # the data cache itself (fluid-cloudnative/fluid:pkg/ddc/jindocache/transform.go
                # @v1.0.8 transformFuse). The seed's `fs.jindofsx.data.cache.enable` and
                # `fs.jindofsx.stream.maxPendingBlocks` belong to the older jindofsx engine
                # (pkg/ddc/jindofsx/transform.go@v1.0.8) and are left out; the two download keys
                # below are jindocache's own defaults, stated so the seed's tuning stays visible.
                "properties": {
                    "fs.s3.download.queue.size": "16",
                    "fs.s3.download.thread.concurrency": "32",
                    "fs.s3.read.readahead.buffer.count": "16",
                },
                "args": [
                    "-okernel_cache",
                    "-oro",
                    "-oattr_timeout=7200",
                    "-oentry_timeout=7200",
                    "-ometrics_port=9089",
                ],
            },
        },
    }


def dataload_timeout_seconds(model: ModelConfig) -> int:
    """Runtime start-up (image pulls, Dataset bound) plus the load itself: the seed loaded
    15 GB x 3 replicas in 171 s; allow 20 s per cached GiB."""
    return RUNTIME_START_SECONDS + round(model.size_gib * model.cache_replicas * 20)


def dataload_name(model: ModelConfig) -> str:
    return f"{model.name}-dataload"


def dataload(config: StackConfig, model: ModelConfig) -> dict[str, Any]:
    """Preload one model into the cache, as many copies as the model asks for.

    Not awaited itself: its gate Job (components/cache/dataload_gate.py) fails fast.
    """
    return {
        "apiVersion": "data.fluid.io/v1alpha1",
        "kind": "DataLoad",
        "metadata": {"name": dataload_name(model), "namespace": config.model_namespace},
        "spec": {
            "dataset": {"name": DATASET_NAME, "namespace": config.model_namespace},
            "loadMetadata": True,
            "target": [{"path": mount_path(model), "replicas": model.cache_replicas}],
            "nodeSelector": data_node_labels(),
        },
    }
