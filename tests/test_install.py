"""The install is reproducible and small: uv.lock pins every package, planning installs only the
program's dependencies, and the Makefile lists its targets by default."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
LOCK = tomllib.loads((ROOT / "uv.lock").read_text())
UV = Path(sys.executable).parent / "uv"
MAKE = shutil.which("make")
needs_uv = pytest.mark.skipif(not UV.exists(), reason="uv is installed by `make test`")
needs_make = pytest.mark.skipif(MAKE is None, reason="make is not installed")


def _uv(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(UV), *args], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


@needs_uv
def test_the_lock_matches_pyproject() -> None:
    # --offline: every package of a current lock is already resolved in it.
    result = _uv("lock", "--check", "--offline")
    assert result.returncode == 0, result.stderr


@needs_uv
def test_requirements_txt_is_the_locks_export_of_the_program_dependencies() -> None:
    """The workflows install requirements.txt with pip; it must be exactly what the lock says."""
    result = _uv(
        "export", "--frozen", "--no-default-groups", "--no-emit-project",
        "--format", "requirements-txt", "--quiet",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    committed = (ROOT / "requirements.txt").read_text()
    assert committed.split("\n", 2)[2] == result.stdout.split("\n", 2)[2]


def test_every_package_comes_from_pypi_and_every_pin_is_exact() -> None:
    sources = {str(p.get("source")) for p in LOCK["package"]}
    assert sources == {"{'registry': 'https://pypi.org/simple'}", "{'virtual': '.'}"}
    groups = PYPROJECT["dependency-groups"]
    for requirement in [*PYPROJECT["project"]["dependencies"], *groups["tools"], *groups["test"]]:
        if isinstance(requirement, str):
            assert re.fullmatch(r"[A-Za-z0-9_.\[\]-]+==[\w.]+", requirement), requirement


def test_planning_needs_no_tool_or_test_package() -> None:
    """`uv sync` (what the Pulumi CLI runs) installs [project].dependencies only."""
    assert PYPROJECT["tool"]["uv"]["default-groups"] == []
    program = {r.split("==")[0].lower() for r in PYPROJECT["project"]["dependencies"]}
    assert not program & {"boto3", "moto", "matplotlib", "mypy", "awscli", "pytest", "kubernetes"}


def test_pulumi_runs_the_program_with_uv_in_the_make_venv() -> None:
    runtime = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["runtime"]
    assert runtime["options"] == {"toolchain": "uv", "virtualenv": ".venv"}
    required = PYPROJECT["tool"]["uv"]["required-version"]
    # The tests' uv (above) is the uv the Makefile bootstraps.
    assert f"uv{required}" in PYPROJECT["dependency-groups"]["test"]


@needs_make
def test_make_alone_lists_the_targets() -> None:
    assert MAKE is not None
    result = subprocess.run(
        [MAKE, "--no-print-directory"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    listed = dict(
        re.findall(r"^  (\S+)\s+(.+)$", result.stdout, flags=re.M)  # two-space indent, name, doc
    )
    for target in ("plan", "test", "preview", "up", "destroy", "smoke", "vendor", "preflight"):
        assert listed.get(target), target
    assert listed["plan"].startswith("Render the stack offline")


@needs_make
def test_make_plan_installs_only_the_program_and_the_policy_pack() -> None:
    """The plan runs the program and the policy pack's rules on it (tools/plan/policy_feed.py):
    no operator tool, no test toolchain."""
    assert MAKE is not None
    dry = subprocess.run(
        [MAKE, "-n", "-B", "plan"], cwd=ROOT, capture_output=True, text=True, timeout=60
    ).stdout
    syncs = [line for line in dry.splitlines() if " sync " in line]
    assert len(syncs) == 2 and all("--frozen" in line for line in syncs)
    assert "--group" not in syncs[0] and syncs[1].endswith("--group policy")
    assert not any("--all-groups" in line or "--group tools" in line for line in syncs)


@needs_make
def test_preview_and_up_install_the_policy_packs_sdk() -> None:
    """The pack (policy/PulumiPolicy.yaml) runs in .venv: pulumi-policy must be there."""
    assert MAKE is not None
    assert "pulumi-policy==1.21.0" in PYPROJECT["dependency-groups"]["policy"]
    for target in ("preview", "up"):
        dry = subprocess.run(
            [MAKE, "-n", "-B", target], cwd=ROOT, capture_output=True, text=True, timeout=60
        ).stdout
        assert any(" sync " in line and "--group policy" in line for line in dry.splitlines())


def test_pip_sources_become_uv_settings() -> None:
    from tools.maintain.pip_sources import pip_settings, uv_environment

    listing = (
        ":env:.find-links='/wheels'\n"
        "global.extra-index-url='file:///mirror/simple file:///more/simple'\n"
        "global.cert='/etc/ssl/certs/ca-certificates.crt'\n"
        "install.index-url='https://proxy.example/simple'\n"
    )
    settings = pip_settings(listing)
    assert uv_environment(settings, {}) == [
        "UV_DEFAULT_INDEX=https://proxy.example/simple",
        "UV_INDEX=file:///mirror/simple file:///more/simple",
        "UV_FIND_LINKS=/wheels",
    ]
    # What the environment already says wins.
    assert uv_environment(settings, {"UV_INDEX": "x"}) == [
        "UV_DEFAULT_INDEX=https://proxy.example/simple",
        "UV_FIND_LINKS=/wheels",
    ]
    assert uv_environment(pip_settings(""), {}) == []


def test_torch_stays_out_of_the_lock_and_is_pinned_for_make_test() -> None:
    """PyPI's torch is the CUDA build: the lock must not pull it (or nvidia-* wheels) in."""
    assert not any(p["name"].startswith("nvidia-") for p in LOCK["package"])
    assert "torch; sys_platform == 'never'" in PYPROJECT["tool"]["uv"]["override-dependencies"]
    pins = (ROOT / "requirements-torch.txt").read_text()
    assert re.search(r"^torch==[\d.]+\+cpu$", pins, re.M)
