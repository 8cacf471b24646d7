"""Each known failure: its exact one-line message and exit code, through the CLI."""

from __future__ import annotations

import errno
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import httpx2
import pytest
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from tools.in_cluster.stage_model.cli import main
from tools.in_cluster.stage_model.errors import MESSAGES, PERMANENT, ExitCode

from .faultproxy import FaultProxy, deny_writes

REPO = "meta-llama/Meta-Llama-3.1-8B-Instruct"
REV = "0e9e39f249a16976918f6564b8830bc894c89659"
ROOT = Path(__file__).resolve().parents[2]


def hub_error(cls: type[HfHubHTTPError], status: int) -> HfHubHTTPError:
    url = f"https://huggingface.co/api/models/{REPO}/revision/{REV}"
    response = httpx2.Response(status, request=httpx2.Request("GET", url))
    return cls(f"{status} Client Error", response=response)


class FailingHub:
    """Stand-in for the Hub download that raises what the real one would."""

    def __init__(self, error: BaseException) -> None:
        self.error = error
        self.calls = 0

    def __call__(self, **kwargs: object) -> str:
        self.calls += 1
        raise self.error


def run_cli(
    args: list[str], capsys: pytest.CaptureFixture[str], **kwargs: object
) -> tuple[int, str]:
    code = main(args, **kwargs)  # type: ignore[arg-type]
    return code, capsys.readouterr().err.strip().splitlines()[-1]


def hf_args(bucket: str, endpoint: str, tmp_path: Path) -> list[str]:
    return [
        "--source", f"hf:{REPO}@{REV}",
        "--dest", f"s3://{bucket}/models/llama",
        "--endpoint-url", endpoint,
        "--staging-dir", str(tmp_path / "snapshot"),
    ]  # fmt: skip


def test_gated_repo_without_token(bucket, moto_endpoint, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    hub = FailingHub(hub_error(GatedRepoError, 401))

    code, line = run_cli(hf_args(bucket, moto_endpoint, tmp_path), capsys, download=hub)

    assert code == ExitCode.MISSING_TOKEN == 10
    assert line == (
        "error: hf:meta-llama/Meta-Llama-3.1-8B-Instruct is gated and HF_TOKEN is not set: "
        "accept its license on huggingface.co/meta-llama/Meta-Llama-3.1-8B-Instruct, "
        "then export HF_TOKEN"
    )
    assert hub.calls == 1


def test_gated_repo_with_a_token_that_has_no_access(
    bucket, moto_endpoint, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("HF_TOKEN", "hf_not_a_real_token")
    hub = FailingHub(hub_error(GatedRepoError, 403))

    code, line = run_cli(hf_args(bucket, moto_endpoint, tmp_path), capsys, download=hub)

    assert code == ExitCode.GATED_NO_ACCESS == 11
    assert line == (
        "error: hf:meta-llama/Meta-Llama-3.1-8B-Instruct is gated and the HF_TOKEN account has "
        "no access: request it on huggingface.co/meta-llama/Meta-Llama-3.1-8B-Instruct"
    )


def test_unknown_repo(bucket, moto_endpoint, tmp_path, capsys):
    hub = FailingHub(hub_error(RepositoryNotFoundError, 404))

    code, line = run_cli(hf_args(bucket, moto_endpoint, tmp_path), capsys, download=hub)

    assert code == ExitCode.REPO_NOT_FOUND == 12
    assert line == (
        "error: hf:meta-llama/Meta-Llama-3.1-8B-Instruct not found on the Hugging Face Hub "
        "(check the id; a private repo needs HF_TOKEN)"
    )


def test_unknown_revision(bucket, moto_endpoint, tmp_path, capsys):
    hub = FailingHub(hub_error(RevisionNotFoundError, 404))

    code, line = run_cli(hf_args(bucket, moto_endpoint, tmp_path), capsys, download=hub)

    assert code == ExitCode.REVISION_NOT_FOUND == 13
    assert line == f"error: hf:{REPO}@{REV}: revision not found"


def test_disk_full_during_download(bucket, moto_endpoint, tmp_path, capsys):
    shard = tmp_path / "snapshot" / "model-00001-of-00004.safetensors"
    hub = FailingHub(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(shard)))

    code, line = run_cli(hf_args(bucket, moto_endpoint, tmp_path), capsys, download=hub)

    assert code == ExitCode.DISK_FULL == 30
    assert line == (
        f"error: no space left on device while downloading hf:{REPO}@{REV} "
        f"to {tmp_path / 'snapshot'}"
    )


def test_disk_full_wrapped_by_the_hub_library_is_still_recognised(
    bucket, moto_endpoint, tmp_path, capsys
):
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as inner:
            raise RuntimeError("download failed") from inner
    except RuntimeError as outer:
        wrapped = outer
    hub = FailingHub(wrapped)

    code, _ = run_cli(hf_args(bucket, moto_endpoint, tmp_path), capsys, download=hub)

    assert code == ExitCode.DISK_FULL


def test_other_os_errors_are_not_reported_as_disk_full(bucket, moto_endpoint, tmp_path):
    hub = FailingHub(OSError(errno.EACCES, "Permission denied"))
    with pytest.raises(PermissionError):
        main(hf_args(bucket, moto_endpoint, tmp_path), download=hub)


def test_bucket_not_found_fails_before_any_download(moto_endpoint, tmp_path, capsys):
    hub = FailingHub(AssertionError("must not download"))
    args = hf_args("no-such-bucket-4f2a", moto_endpoint, tmp_path)

    code, line = run_cli(args, capsys, download=hub)

    assert code == ExitCode.BUCKET_NOT_FOUND == 20
    assert line == "error: s3://no-such-bucket-4f2a: bucket not found"
    assert hub.calls == 0


def test_access_denied_on_write(model_dir, bucket, moto_endpoint, capsys):
    root, _ = model_dir
    with FaultProxy(moto_endpoint, deny_writes) as proxy:
        args = ["--source", str(root), "--dest", f"s3://{bucket}/models/llama"]
        code, line = run_cli([*args, "--endpoint-url", proxy.endpoint], capsys)

    assert code == ExitCode.ACCESS_DENIED == 21
    assert line == (
        f"error: s3://{bucket}/models/llama: access denied; the credentials need s3:ListBucket "
        f"on the prefix and s3:GetObject/s3:PutObject on {bucket}/models/llama/*"
    )


def test_access_denied_on_listing(model_dir, bucket, moto_endpoint, capsys):
    root, _ = model_dir
    with FaultProxy(moto_endpoint, lambda method, path, headers: 403) as proxy:
        args = ["--source", str(root), "--dest", f"s3://{bucket}/p", "--endpoint-url"]
        code, line = run_cli([*args, proxy.endpoint], capsys)

    assert code == ExitCode.ACCESS_DENIED
    assert line.startswith(f"error: s3://{bucket}/p: access denied;")


def test_local_source_missing(bucket, moto_endpoint, tmp_path, capsys):
    missing = tmp_path / "nope"
    args = ["--source", str(missing), "--dest", f"s3://{bucket}/p", "--endpoint-url"]

    code, line = run_cli([*args, moto_endpoint], capsys)

    assert code == ExitCode.SOURCE_NOT_FOUND == 14
    assert line == (
        f"error: {missing}: source directory not found; pass --source a folder holding the "
        "model's files (config.json, *.safetensors) or hf:<org>/<name>@<revision>"
    )


@pytest.fixture
def no_credentials(monkeypatch, tmp_path):
    """An operator's shell without AWS credentials (no env keys, files, profile or IMDS)."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_no_credentials_is_a_sentence(model_dir, bucket, moto_endpoint, no_credentials, capsys):
    root, _ = model_dir
    args = ["--source", str(root), "--dest", f"s3://{bucket}/p", "--endpoint-url"]

    code, line = run_cli([*args, moto_endpoint], capsys)

    assert code == ExitCode.NO_CREDENTIALS == 23
    assert line == (
        "error: no AWS credentials found (Unable to locate credentials); set AWS_PROFILE (after "
        "`aws sso login` or `aws configure`) or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
        "then run again"
    )


def test_a_missing_source_is_named_before_credentials(
    bucket, moto_endpoint, no_credentials, tmp_path, capsys
):
    missing = tmp_path / "typo"
    args = ["--source", str(missing), "--dest", f"s3://{bucket}/p", "--endpoint-url"]

    code, line = run_cli([*args, moto_endpoint], capsys)

    assert code == ExitCode.SOURCE_NOT_FOUND
    assert line.startswith(f"error: {missing}: source directory not found;")


def test_unreachable_s3_is_a_sentence(model_dir, capsys):
    root, _ = model_dir
    with socket.socket() as closed:  # a port on 127.0.0.1 that nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    args = ["--source", str(root), "--dest", "s3://models/p", "--max-attempts", "1"]

    code, line = run_cli([*args, "--endpoint-url", f"http://127.0.0.1:{port}"], capsys)

    assert code == ExitCode.S3_UNREACHABLE == 25
    assert line == (
        f"error: cannot reach S3 at http://127.0.0.1:{port}/models; check the network, "
        "--endpoint-url and --region, then run again"
    )


def test_bad_destination_is_a_usage_error(tmp_path, capsys):
    code, line = run_cli(["--source", str(tmp_path), "--dest", "s3://Bad_Bucket/p"], capsys)

    assert code == ExitCode.USAGE == 2
    assert line == (
        "error: destination 's3://Bad_Bucket/p': 'Bad_Bucket' is not a valid S3 bucket name"
    )


def test_pulumi_cli_missing(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no pulumi here

    code, line = run_cli(["--source", str(tmp_path), "--stack", "dev", "--model", "llama"], capsys)

    assert code == ExitCode.PULUMI_CLI_MISSING == 40
    assert line == (
        "error: pulumi CLI not found on PATH (needed by --stack); install it or pass "
        "--dest s3://bucket/prefix"
    )


def fake_pulumi(bin_dir: Path, stdout: str, rc: int = 0) -> None:
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / "pulumi"
    script.write_text(
        "#!/bin/sh\n"
        '[ "$*" = "stack output --json --stack dev" ] || { echo "bad args: $*" >&2; exit 9; }\n'
        f"cat <<'EOF'\n{stdout}\nEOF\nexit {rc}\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


def test_stack_output_gives_the_default_destination(
    model_dir, bucket, moto_endpoint, tmp_path, capsys, monkeypatch, inspector
):
    root, _ = model_dir
    fake_pulumi(tmp_path / "bin", f'{{"modelUris": {{"llama": "s3://{bucket}/models/llama"}}}}')
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    args = ["--source", str(root), "--stack", "dev", "--model", "llama"]

    code = main([*args, "--endpoint-url", moto_endpoint])

    assert code == ExitCode.OK
    assert capsys.readouterr().out.startswith(f"staged s3://{bucket}/models/llama: 7 uploaded")
    listed = inspector.list_objects_v2(Bucket=bucket, Prefix="models/llama/")["KeyCount"]
    assert listed == 8  # 7 files + manifest


def test_stack_without_the_model(tmp_path, capsys, monkeypatch):
    fake_pulumi(tmp_path / "bin", '{"modelUris": {"mistral": "s3://b/m"}}')
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")

    code, line = run_cli(["--source", str(tmp_path), "--stack", "dev", "--model", "llama"], capsys)

    assert code == ExitCode.STACK_OUTPUT_MISSING == 41
    assert line == "error: stack dev: cannot read modelUris['llama']: models: mistral"


def test_stack_that_pulumi_cannot_read(tmp_path, capsys, monkeypatch):
    fake_pulumi(tmp_path / "bin", "error: no stack named 'dev' found", rc=255)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")

    code, line = run_cli(["--source", str(tmp_path), "--stack", "dev", "--model", "llama"], capsys)

    assert code == ExitCode.STACK_OUTPUT_MISSING
    assert line == (
        "error: stack dev: cannot read modelUris['llama']: "
        "pulumi exited 255: error: no stack named 'dev' found"
    )


def test_module_entry_point_reports_through_the_exit_status(moto_endpoint, tmp_path):
    """`python -m tools.in_cluster.stage_model` wires main() to the exit status and stderr."""
    (tmp_path / "config.json").write_text("{}")
    completed = subprocess.run(
        [sys.executable, "-m", "tools.in_cluster.stage_model", "--source", str(tmp_path),
         "--dest", "s3://no-such-bucket-77/p"],
        cwd=ROOT,
        env={**os.environ, "AWS_ENDPOINT_URL": moto_endpoint},
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip

    assert completed.returncode == 20
    assert completed.stderr.strip().splitlines()[-1] == (
        "error: s3://no-such-bucket-77: bucket not found"
    )


def test_every_exit_code_has_a_message_and_permanent_ones_are_failures():
    assert set(MESSAGES) == set(ExitCode) - {ExitCode.OK, ExitCode.FAILED}
    assert ExitCode.OK not in PERMANENT
    assert len({int(code) for code in ExitCode}) == len(ExitCode)
    assert sorted(int(c) for c in PERMANENT) == [10, 11, 12, 13, 14, 15, 20, 21]
