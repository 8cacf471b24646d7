"""Stage a model to S3: fast (parallel multipart), resumable (skips what is there), verified
(sha256 in object metadata, manifest written last).

Run ``python -m tools.in_cluster.stage_model --help``; the in-cluster Job runs the same files as
``python3 -m stage_model``, so modules here import each other relatively.
"""

from .errors import ExitCode, StageError
from .location import S3Location, parse_s3_uri
from .manifest import Manifest, ManifestEntry, is_complete, read_manifest
from .s3sync import make_s3_client, transfer_config_for
from .stage import StageResult, stage

__all__ = [
    "ExitCode",
    "Manifest",
    "ManifestEntry",
    "S3Location",
    "StageError",
    "StageResult",
    "is_complete",
    "make_s3_client",
    "parse_s3_uri",
    "read_manifest",
    "stage",
    "transfer_config_for",
]
