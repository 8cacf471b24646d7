"""The plan-diff workflows' shell steps, run here as GitHub would run them (bash, offline).

The render step runs against two checkouts of this repository (pip stood in for, offline); the
diff step against two real plans; the comment step against a stand-in `gh` on PATH that
answers the two API reads and records the writes, so the artifact checks are exercised for real.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import yaml

from tests.plan_support import ROOT, Plan

WORKFLOWS = ROOT / ".github" / "workflows"
HEAD_SHA = "a" * 40


def step_script(workflow: str, name: str) -> str:
    document = yaml.safe_load((WORKFLOWS / workflow).read_text())
    for job in document["jobs"].values():
        for step in job["steps"]:
            if step.get("name") == name:
                return str(step["run"])
    raise LookupError(f"{workflow}: no step named {name!r}")


def run_bash(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", script],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        # A guard against a hung step, not a speed check: the render step plans four stacks,
        # which takes minutes on a busy 2-core runner.
        timeout=900,
        check=False,
    )


def test_diff_step_writes_the_artifact_and_summary(
    dev_plan: Plan, kourier_plan: Plan, tmp_path: Path
) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / "head").symlink_to(ROOT)  # the head checkout, with its .venv
    shutil.copytree(dev_plan.folder, workspace / "plans" / "base" / "dev")
    shutil.copytree(kourier_plan.folder, workspace / "plans" / "head" / "dev")
    summary = tmp_path / "summary.md"
    result = run_bash(
        step_script("plan-diff.yml", "Diff the plans"),
        workspace,
        {
            "PR_NUMBER": "42",
            "GITHUB_STEP_SUMMARY": str(summary),
            "GITHUB_WORKSPACE": str(workspace),
        },
    )
    assert result.returncode == 0, result.stderr
    assert (workspace / "plan-diff" / "pr-number").read_text() == "42\n"
    markdown = (workspace / "plan-diff" / "plan-diff.md").read_text()
    assert "0 to add, 3 to remove" in markdown
    assert summary.read_text() == markdown


GH_STAND_IN = """#!/usr/bin/env python3
import json, os, sys
args = sys.argv[1:]
with open(os.environ["GH_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
path = next(a for a in args[1:] if a.startswith("repos/"))
if path.endswith("/comments") and "--method" not in args:
    print(os.environ.get("GH_EXISTING_COMMENT", ""))
elif "/pulls/" in path:
    print(os.environ["GH_PR_HEAD"])
elif "--method" in args:
    body = next(a for a in args if a.startswith("body=@"))[len("body=@"):]
    with open(os.environ["GH_BODY"], "w") as out:
        out.write(open(body).read())
"""


def comment(tmp_path: Path, pr_number: str, pr_head: str, existing: str = "") -> tuple:
    workspace = tmp_path / "workspace"
    (workspace / "plan-diff").mkdir(parents=True, exist_ok=True)
    (workspace / "plan-diff" / "pr-number").write_text(pr_number)
    (workspace / "plan-diff" / "plan-diff.md").write_text("## Offline plan diff\n\nx" * 5000)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    gh = bin_dir / "gh"
    gh.write_text(GH_STAND_IN)
    gh.chmod(gh.stat().st_mode | stat.S_IXUSR)
    log, body = tmp_path / "gh.log", tmp_path / "body.md"
    log.unlink(missing_ok=True)
    body.unlink(missing_ok=True)
    result = run_bash(
        step_script("plan-diff-comment.yml", "Create or update the comment"),
        workspace,
        {
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "GH_TOKEN": "not-a-token",
            "REPO": "acme/llm",
            "HEAD_SHA": HEAD_SHA,
            "GH_PR_HEAD": pr_head,
            "GH_EXISTING_COMMENT": existing,
            "GH_LOG": str(log),
            "GH_BODY": str(body),
        },
    )
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return result, calls, body.read_text() if body.exists() else None


def test_comment_step_posts_a_new_comment(tmp_path: Path) -> None:
    result, calls, body = comment(tmp_path, "42\n", HEAD_SHA)
    assert result.returncode == 0, result.stderr
    assert calls[0][:2] == ["api", "repos/acme/llm/pulls/42"]
    assert calls[-1][:4] == ["api", "--method", "POST", "repos/acme/llm/issues/42/comments"]
    assert body is not None and body.startswith("<!-- plan-diff -->\n## Offline plan diff")
    assert len(body) <= 60000 + len("<!-- plan-diff -->\n"), "GitHub refuses > 65536 chars"


def test_comment_step_updates_its_earlier_comment(tmp_path: Path) -> None:
    result, calls, _ = comment(tmp_path, "42", HEAD_SHA, existing="777")
    assert result.returncode == 0, result.stderr
    assert calls[-1][:4] == ["api", "--method", "PATCH", "repos/acme/llm/issues/comments/777"]


def test_comment_step_refuses_an_untrusted_artifact(tmp_path: Path) -> None:
    result, calls, body = comment(tmp_path, "42 or 43", HEAD_SHA)
    assert result.returncode != 0 and "not a number" in result.stdout
    assert calls == [] and body is None
    result, calls, body = comment(tmp_path, "41", "b" * 40)  # another PR's number
    assert result.returncode == 0 and "moved on" in result.stdout
    assert [c[1] for c in calls] == ["repos/acme/llm/pulls/41"] and body is None


PIP_STAND_IN = """#!/usr/bin/env bash
# `python -m venv DIR` makes DIR/bin/python: pip installs are logged (no network), the rest
# runs on the test's interpreter ($REAL_PYTHON), which has every pinned dependency.
if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then
  mkdir -p "$3/bin"
  cat > "$3/bin/python" <<'INNER'
#!/usr/bin/env bash
if [ "$1" = "-m" ] && [ "$2" = "pip" ]; then echo "$*" >> "$PIP_LOG"; exit 0; fi
exec "$REAL_PYTHON" "$@"
INNER
  chmod +x "$3/bin/python"
  exit 0
fi
exec "$REAL_PYTHON" "$@"
"""


def _checkout(target: Path) -> None:
    """A checkout of this repository without its .venv (the step creates one)."""
    target.mkdir()
    for item in ROOT.iterdir():
        if item.name not in {".venv", "build", ".git"}:
            (target / item.name).symlink_to(item)


def test_render_step_plans_every_committed_stack_on_both_sides(tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    for side in ("base", "head"):
        _checkout(workspace / side)
    bin_dir, pip_log = tmp_path / "bin", tmp_path / "pip.log"
    bin_dir.mkdir()
    python = bin_dir / "python"
    python.write_text(PIP_STAND_IN)
    python.chmod(python.stat().st_mode | stat.S_IXUSR)
    result = run_bash(
        step_script("plan-diff.yml", "Render the plan of every committed stack"),
        workspace,
        {
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "GITHUB_WORKSPACE": str(workspace),
            "REAL_PYTHON": sys.executable,
            "PIP_LOG": str(pip_log),
        },
    )
    assert result.returncode == 0, result.stderr + result.stdout
    stacks = sorted(p.name.split(".")[1] for p in ROOT.glob("Pulumi.*.yaml"))
    for side in ("base", "head"):
        rendered = sorted(p.name for p in (workspace / "plans" / side).iterdir())
        assert rendered == stacks, side
        for stack in stacks:
            document = json.loads(
                (workspace / "plans" / side / stack / "resources.json").read_text()
            )
            assert document["stack"] == stack
    installs = pip_log.read_text().splitlines()
    # Each side's program and policy pack (the plan prints the pack's verdict).
    assert [line.split()[-1] for line in installs] == [
        "base/requirements.txt",
        "base/policy/requirements.txt",
        "head/requirements.txt",
        "head/policy/requirements.txt",
    ]
    assert "policy pack: 0 mandatory" in json.dumps(document["policy"])
