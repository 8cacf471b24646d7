"""GitHub Actions workflows: offline schema validation plus the rules the schema cannot express.

Schema: check-jsonschema's vendored SchemaStore schemas (`vendor.github-workflows` for
`.github/workflows/*`, `vendor.github-actions` for composite actions under `.github/actions/`),
run by the interpreter running these tests (the project venv) under an audit hook that turns any
network access into an error, so the check can never quietly depend on a download.

Semantics: every rule is a function returning the problems it finds; the tests assert the real
files have none and that a deliberately broken copy has some, so each rule is shown to fail.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS_DIR = ROOT / ".github" / "workflows"
ACTIONS_DIR = ROOT / ".github" / "actions"

WORKFLOW_FILES = sorted(p for p in WORKFLOWS_DIR.glob("*") if p.is_file())
ACTION_FILES = sorted(
    p for p in ACTIONS_DIR.rglob("*") if p.is_file() and p.name in {"action.yml", "action.yaml"}
)

# Third-party actions run with the job's token and cloud credentials: pinned to a commit, the
# tag in a comment. Each SHA is the tag's commit in the action's repository (git rev-list -n1).
THIRD_PARTY_PINS = {
    "pulumi/actions": ("8e5e406f4007fca908480587cb9893c07090f58d", "v7.0.0"),
    "aws-actions/configure-aws-credentials": ("e6de054238d6b7531b4efff3b6587d9aade6a06c", "v6.2.3"),
}
PULUMI_ACTION = "pulumi/actions@" + THIRD_PARTY_PINS["pulumi/actions"][0]
AWS_CREDENTIALS_ACTION = "aws-actions/configure-aws-credentials@"

# Audit hook installed before check-jsonschema is imported: name resolution, connects and
# urllib requests raise, so a schema that needed a download would fail the run instead of
# fetching it. Audit hooks cannot be removed once added.
_NETWORK_GUARD = """
import sys

_NETWORK_EVENTS = frozenset({
    "socket.connect", "socket.connect_ex", "socket.getaddrinfo", "socket.gethostbyname",
    "socket.gethostbyname_ex", "socket.gethostbyaddr", "socket.sendto", "socket.sendmsg",
    "urllib.Request",
})

def _deny_network(event, args):
    if event in _NETWORK_EVENTS:
        raise RuntimeError(f"network access attempted offline: {event} {args!r}")

sys.addaudithook(_deny_network)
"""

_RUN_CHECK_JSONSCHEMA = """
from check_jsonschema import main
sys.argv[0] = "check-jsonschema"
sys.exit(main())
"""


# --------------------------------------------------------------------------------------------
# Schema validation
# --------------------------------------------------------------------------------------------


def validate(paths: list[Path], builtin_schema: str) -> subprocess.CompletedProcess[str]:
    """Run `check-jsonschema --builtin-schema <schema> <paths>` offline; returncode 0 = valid."""
    if not paths:
        raise ValueError("nothing to validate")
    return subprocess.run(
        [
            sys.executable,
            "-c",
            _NETWORK_GUARD + _RUN_CHECK_JSONSCHEMA,
            "--builtin-schema",
            builtin_schema,
            *(str(p) for p in paths),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _output(result: subprocess.CompletedProcess[str]) -> str:
    return f"rc={result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"


def test_workflows_present() -> None:
    names = {p.name for p in WORKFLOW_FILES}
    assert {"test.yml", "preview.yml", "deploy.yml", "destroy.yml"} <= names, names
    stray = [p.name for p in WORKFLOW_FILES if p.suffix not in {".yml", ".yaml"}]
    assert not stray, f"GitHub ignores non-YAML files in .github/workflows: {stray}"


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_workflow_matches_github_schema(path: Path) -> None:
    result = validate([path], "vendor.github-workflows")
    assert result.returncode == 0, _output(result)
    assert "network access attempted" not in result.stderr


def test_every_job_has_a_timeout() -> None:
    result = validate(WORKFLOW_FILES, "custom.github-workflows-require-timeout")
    assert result.returncode == 0, _output(result)


@pytest.mark.parametrize("path", ACTION_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_composite_action_matches_github_schema(path: Path) -> None:
    result = validate([path], "vendor.github-actions")
    assert result.returncode == 0, _output(result)


BROKEN_WORKFLOWS = {
    "typo_in_event": "on: pull_requests\njobs:\n  a:\n    runs-on: ubuntu-latest\n"
    "    steps: [{run: echo}]\n",
    "job_without_runs_on": "on: push\njobs:\n  a:\n    steps: [{run: echo}]\n",
    "steps_not_a_list": "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps: make test\n",
    "bad_permission_level": "on: push\npermissions:\n  id-token: read-write\njobs:\n  a:\n"
    "    runs-on: ubuntu-latest\n    steps: [{run: echo}]\n",
    "cancel_in_progress_not_bool": "on: push\nconcurrency: {group: x, cancel-in-progress: maybe}\n"
    "jobs:\n  a:\n    runs-on: ubuntu-latest\n    steps: [{run: echo}]\n",
    "not_yaml": "on: push\njobs: [unclosed\n",
}


@pytest.mark.parametrize("name", sorted(BROKEN_WORKFLOWS))
def test_broken_workflow_is_rejected(tmp_path: Path, name: str) -> None:
    bad = tmp_path / f"{name}.yml"
    bad.write_text(BROKEN_WORKFLOWS[name])
    result = validate([bad], "vendor.github-workflows")
    assert result.returncode != 0, _output(result)
    assert bad.name in result.stdout + result.stderr, _output(result)


def test_minimal_valid_workflow_is_accepted(tmp_path: Path) -> None:
    """The rejections above come from the content, not from a validator that always fails."""
    good = tmp_path / "ok.yml"
    good.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    timeout-minutes: 5\n"
        "    steps: [{run: echo}]\n"
    )
    result = validate([good], "vendor.github-workflows")
    assert result.returncode == 0, _output(result)


def test_broken_composite_action_is_rejected(tmp_path: Path) -> None:
    bad = tmp_path / "action.yml"
    # A composite `run` step needs `shell`.
    bad.write_text(
        "name: x\ndescription: x\nruns:\n  using: composite\n  steps:\n    - run: echo hi\n"
    )
    result = validate([bad], "vendor.github-actions")
    assert result.returncode != 0, _output(result)


def test_network_guard_blocks_connections() -> None:
    """The guard used by validate() really fails on network access (so a pass means offline)."""
    probe = "import socket\nsocket.create_connection(('203.0.113.1', 443), timeout=1)\n"
    result = subprocess.run(
        [sys.executable, "-c", _NETWORK_GUARD + probe],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "network access attempted offline" in result.stderr, result.stderr


def _no_network_prefix() -> list[str] | None:
    """`unshare -rn`: a user+network namespace with no interfaces, when the kernel allows it."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return None
    probe = subprocess.run([unshare, "-rn", "true"], capture_output=True, timeout=30, check=False)
    return [unshare, "-rn"] if probe.returncode == 0 else None


def test_console_script_validates_without_network() -> None:
    """The installed `check-jsonschema` executable, with no network at all."""
    prefix = _no_network_prefix()
    if prefix is None:
        pytest.skip("cannot create a network namespace here (unshare -rn)")
    executable = Path(sys.executable).parent / "check-jsonschema"
    if not executable.exists():
        pytest.skip(f"{executable} not installed next to {sys.executable}")
    files = [*WORKFLOW_FILES]
    result = subprocess.run(
        [*prefix, str(executable), "--builtin-schema", "vendor.github-workflows", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, _output(result)
    if ACTION_FILES:
        result = subprocess.run(
            [
                *prefix,
                str(executable),
                "--builtin-schema",
                "vendor.github-actions",
                *map(str, ACTION_FILES),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, _output(result)


# --------------------------------------------------------------------------------------------
# Helpers over the parsed YAML
# --------------------------------------------------------------------------------------------

Doc = dict[Any, Any]


def load(path: Path) -> Doc:
    doc = yaml.safe_load(path.read_text())
    assert isinstance(doc, dict), f"{path}: not a mapping"
    return doc


def triggers(workflow: Doc) -> dict[str, Any]:
    """The `on:` block as {event: config}. PyYAML (YAML 1.1) reads the key `on` as True."""
    on = workflow.get("on", workflow.get(True))
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return dict.fromkeys(on)
    if isinstance(on, dict):
        return on
    return {}


def jobs(workflow: Doc) -> dict[str, Doc]:
    result = workflow.get("jobs") or {}
    assert isinstance(result, dict)
    return result


def steps(workflow: Doc) -> Iterator[tuple[str, Doc, int, Doc]]:
    for job_id, job in jobs(workflow).items():
        for index, step in enumerate(job.get("steps") or []):
            yield job_id, job, index, step


def all_uses(doc: Doc) -> list[str]:
    """Every `uses:` of a workflow (steps and reusable-workflow jobs) or a composite action."""
    found = [str(job["uses"]) for job in jobs(doc).values() if "uses" in job]
    found += [str(step["uses"]) for *_, step in steps(doc) if "uses" in step]
    runs = doc.get("runs") or {}
    found += [str(step["uses"]) for step in runs.get("steps") or [] if "uses" in step]
    return found


def permissions(workflow: Doc, job: Doc) -> dict[str, str]:
    """Effective permissions of a job: a job-level block replaces the workflow-level one."""
    perms = job["permissions"] if "permissions" in job else workflow.get("permissions")
    if isinstance(perms, dict):
        return {str(k): str(v) for k, v in perms.items()}
    if perms == "write-all":
        return {"*": "write"}
    return {}


def env_of(workflow: Doc, job: Doc, step: Doc) -> dict[str, str]:
    merged: dict[str, str] = {}
    for layer in (workflow.get("env"), job.get("env"), step.get("env")):
        if isinstance(layer, dict):
            merged.update({str(k): str(v) for k, v in layer.items()})
    return merged


def pulumi_steps(workflow: Doc) -> list[tuple[str, Doc, int, Doc]]:
    return [s for s in steps(workflow) if str(s[3].get("uses", "")).startswith("pulumi/actions@")]


def pulumi_commands(workflow: Doc) -> set[str]:
    return {str((s[3].get("with") or {}).get("command")) for s in pulumi_steps(workflow)}


def is_true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def strip_expression(expression: Any) -> str:
    text = str(expression).strip()
    if text.startswith("${{") and text.endswith("}}"):
        text = text[3:-2]
    return " ".join(text.split())


def evaluate_guard(expression: Any, context: dict[str, str]) -> bool:
    """Evaluate `a == b [&& c != d ...]` over `inputs.*` and 'literals' like GitHub does.

    GitHub compares strings case-insensitively. Anything outside this grammar raises, so a
    guard this test cannot understand fails the test instead of passing it.
    """

    def operand(token: str) -> str:
        token = token.strip()
        if re.fullmatch(r"'[^']*'", token):
            return token[1:-1]
        match = re.fullmatch(r"(?:github\.event\.)?inputs\.([A-Za-z_][\w-]*)", token)
        if match:
            return context.get(match.group(1), "")
        raise ValueError(f"unsupported operand {token!r}")

    result = True
    for clause in strip_expression(expression).split("&&"):
        match = re.fullmatch(r"\s*(.+?)\s*(==|!=)\s*(.+?)\s*", clause)
        if not match:
            raise ValueError(f"unsupported guard clause {clause!r}")
        left, op, right = operand(match.group(1)), match.group(2), operand(match.group(3))
        equal = left.lower() == right.lower()
        result = result and (equal if op == "==" else not equal)
    return result


def render(value: Any, inputs: dict[str, str]) -> str:
    """Substitute `${{ inputs.x }}` in a string (for concurrency groups, environments)."""
    return re.sub(
        r"\$\{\{\s*(?:github\.event\.)?inputs\.([\w-]+)\s*\}\}",
        lambda m: inputs.get(m.group(1), ""),
        str(value),
    )


# --------------------------------------------------------------------------------------------
# Rules (each returns the problems found; [] means the document satisfies it)
# --------------------------------------------------------------------------------------------

_TAG = r"v\d+(?:\.\d+){0,2}"
_SHA = r"[0-9a-f]{40}"
_PINNED_ACTION = re.compile(rf"^[\w.-]+/[\w.-]+(?:/[^@\s]+)?@(?:{_TAG}|{_SHA})$")
_PINNED_DOCKER = re.compile(r"^docker://[^\s@:]+(?::[\w][\w.-]*|@sha256:[0-9a-f]{64})$")


def unpinned_uses(doc: Doc) -> list[str]:
    problems = []
    for uses in all_uses(doc):
        if uses.startswith("./"):
            continue
        if uses.startswith("docker://"):
            if not _PINNED_DOCKER.match(uses) or uses.endswith(":latest"):
                problems.append(f"{uses}: pin the image to a tag or digest")
        elif not _PINNED_ACTION.match(uses):
            problems.append(f"{uses}: pin to a version tag (vN[.N[.N]]) or a full commit SHA")
    return problems


def missing_local_actions(doc: Doc) -> list[str]:
    return [
        f"{uses}: no action.yml/action.yaml there"
        for uses in all_uses(doc)
        if uses.startswith("./")
        and not any((ROOT / uses / name).is_file() for name in ("action.yml", "action.yaml"))
    ]


_LONG_LIVED_AWS_KEY = re.compile(r"aws[-_]access[-_]key[-_]id|aws[-_]secret[-_]access[-_]key", re.I)


def long_lived_aws_keys(text: str) -> list[str]:
    return [
        f"line {number}: {line.strip()}"
        for number, line in enumerate(text.splitlines(), 1)
        if _LONG_LIVED_AWS_KEY.search(line)
    ]


def cloud_access_problems(workflow: Doc) -> list[str]:
    """Every job running a Pulumi command gets AWS by OIDC, the token from secrets, and deps."""
    problems = []
    for job_id, job, index, step in pulumi_steps(workflow):
        if "command" not in (step.get("with") or {}):
            continue
        where = f"job {job_id} step {index}"
        before = (job.get("steps") or [])[:index]
        aws = [s for s in before if str(s.get("uses", "")).startswith(AWS_CREDENTIALS_ACTION)]
        if not aws:
            problems.append(f"{where}: no {AWS_CREDENTIALS_ACTION} step before pulumi/actions")
        for aws_step in aws:
            inputs = aws_step.get("with") or {}
            if strip_expression(inputs.get("role-to-assume")) != "vars.AWS_ROLE_ARN":
                problems.append(f"{where}: role-to-assume must be ${{{{ vars.AWS_ROLE_ARN }}}}")
            if not strip_expression(inputs.get("aws-region", "")).startswith("vars."):
                problems.append(f"{where}: aws-region must come from a repository variable")
        if permissions(workflow, job).get("id-token") != "write":
            problems.append(f"{where}: OIDC needs permissions id-token: write")
        if permissions(workflow, job).get("contents") not in {"read", "write"}:
            problems.append(f"{where}: checkout needs permissions contents: read")
        token = env_of(workflow, job, step).get("PULUMI_ACCESS_TOKEN")
        if strip_expression(token) != "secrets.PULUMI_ACCESS_TOKEN":
            problems.append(
                f"{where}: PULUMI_ACCESS_TOKEN must be ${{{{ secrets.PULUMI_ACCESS_TOKEN }}}}"
            )
        if not any(_installs_runtime_requirements(s) for s in before):
            problems.append(f"{where}: requirements.txt is not installed into .venv before Pulumi")
        if not any(str(s.get("uses", "")).startswith("actions/checkout@") for s in before):
            problems.append(f"{where}: no actions/checkout before pulumi/actions")
    return problems


def _installs_runtime_requirements(step: Doc) -> bool:
    uses = str(step.get("uses", ""))
    if uses.startswith("./"):
        requirements = (step.get("with") or {}).get("requirements")
        action = next(
            (ROOT / uses / n for n in ("action.yml", "action.yaml") if (ROOT / uses / n).is_file()),
            None,
        )
        if action is None:
            return False
        if requirements is None:
            default = ((load(action).get("inputs") or {}).get("requirements") or {}).get("default")
            requirements = default
        return requirements == "requirements.txt" and ".venv" in action.read_text()
    run = " ".join(str(step.get("run", "")).split())
    return ".venv" in run and "install -r requirements.txt" in run


def concurrency_problems(workflow: Doc, expected_group: str, inputs: dict[str, str]) -> list[str]:
    concurrency = workflow.get("concurrency")
    if not isinstance(concurrency, dict):
        return ["no workflow-level concurrency block"]
    problems = []
    if render(concurrency.get("group"), inputs) != expected_group:
        problems.append(f"concurrency group {concurrency.get('group')!r} != {expected_group!r}")
    if concurrency.get("cancel-in-progress") is not False:
        problems.append("cancel-in-progress must be false (never cancel a running Pulumi update)")
    if concurrency.get("queue", "single") != "max":
        problems.append("queue: max is needed, or a newly pending run cancels the pending one")
    return problems


def preview_problems(workflow: Doc) -> list[str]:
    problems = []
    if set(triggers(workflow)) != {"pull_request"}:
        problems.append(f"triggers {sorted(triggers(workflow))} != ['pull_request']")
    previews = [s for s in pulumi_steps(workflow) if s[3].get("uses") == PULUMI_ACTION]
    if len(previews) != 1:
        problems.append(f"expected one {PULUMI_ACTION} step, found {len(previews)}")
    if pulumi_commands(workflow) != {"preview"}:
        problems.append(f"pulumi commands {sorted(pulumi_commands(workflow))} != ['preview']")
    for job_id, job, _, step in previews:
        inputs = step.get("with") or {}
        if inputs.get("command") != "preview":
            problems.append(f"job {job_id}: command is {inputs.get('command')!r}")
        if inputs.get("stack-name") != "dev":
            problems.append(f"job {job_id}: stack-name is {inputs.get('stack-name')!r}")
        if not is_true(inputs.get("comment-on-pr")):
            problems.append(f"job {job_id}: comment-on-pr is not true")
        if strip_expression(inputs.get("github-token")) not in {
            "secrets.GITHUB_TOKEN",
            "github.token",
        }:
            problems.append(f"job {job_id}: github-token is not the workflow token")
        perms = permissions(workflow, job)
        for scope, level in {
            "id-token": "write",
            "contents": "read",
            "pull-requests": "write",
        }.items():
            if perms.get(scope) != level:
                problems.append(f"job {job_id}: permissions {scope} is {perms.get(scope)!r}")
    return problems + concurrency_problems(workflow, "pulumi-dev", {})


def deploy_problems(workflow: Doc) -> list[str]:
    problems = []
    on = triggers(workflow)
    push_config = on.get("push")
    push: dict[str, Any] = push_config if isinstance(push_config, dict) else {}
    if set(on) != {"push"} or push.get("branches") != ["main"] or set(push) != {"branches"}:
        problems.append(f"must run only on push to main, runs on {on!r}")
    ups = [s for s in pulumi_steps(workflow) if (s[3].get("with") or {}).get("command") == "up"]
    if pulumi_commands(workflow) != {"up"} or len(ups) != 1:
        problems.append(f"expected one `command: up`, found {sorted(pulumi_commands(workflow))}")
    for job_id, job, _, step in ups:
        if step.get("uses") != PULUMI_ACTION:
            problems.append(f"job {job_id}: uses {step.get('uses')} instead of {PULUMI_ACTION}")
        if (step.get("with") or {}).get("stack-name") != "dev":
            problems.append(f"job {job_id}: stack-name is not dev")
        environment = job.get("environment")
        name = environment.get("name") if isinstance(environment, dict) else environment
        if name != "dev":
            problems.append(f"job {job_id}: environment is {name!r}, not dev")
    return problems + concurrency_problems(workflow, "pulumi-dev", {})


def destroy_problems(workflow: Doc) -> list[str]:
    problems = []
    on = triggers(workflow)
    if set(on) != {"workflow_dispatch"}:
        return [f"must be workflow_dispatch only, runs on {sorted(on)}"]
    inputs = (on["workflow_dispatch"] or {}).get("inputs") or {}
    stack = inputs.get("stack") or {}
    if stack.get("type") != "choice" or stack.get("options") != ["dev", "prod"]:
        problems.append("input `stack` must be a choice of [dev, prod]")
    if inputs.get("allow_protected", {}).get("default", False) is not False:
        problems.append("input `allow_protected` must default to false")
    confirm_names = [name for name in inputs if name not in ("stack", "allow_protected")]
    if len(confirm_names) != 1:
        return [*problems, f"expected one confirmation input, found {confirm_names}"]
    confirm = confirm_names[0]
    if inputs[confirm].get("required") is not True:
        problems.append(f"input `{confirm}` must be required")

    destroy_jobs = {
        job_id: job
        for job_id, job, _, step in pulumi_steps(workflow)
        if (step.get("with") or {}).get("command") == "destroy"
    }
    if not destroy_jobs:
        problems.append("no pulumi/actions step with command: destroy")
    if pulumi_commands(workflow) != {"destroy"}:
        problems.append(f"pulumi commands {sorted(pulumi_commands(workflow))} != ['destroy']")
    for job_id, job in destroy_jobs.items():
        guard = job.get("if")
        if guard is None:
            problems.append(f"job {job_id}: no `if:` confirmation guard")
        else:
            cases = {
                ("dev", "dev"): True,
                ("prod", "prod"): True,
                ("dev", "prod"): False,
                ("prod", "dev"): False,
                ("prod", ""): False,
                ("dev", "yes"): False,
            }
            try:
                for (stack_name, typed), expected in cases.items():
                    if evaluate_guard(guard, {"stack": stack_name, confirm: typed}) != expected:
                        problems.append(
                            f"job {job_id}: guard {guard!r} is {not expected} for "
                            f"stack={stack_name!r} {confirm}={typed!r}"
                        )
            except ValueError as error:
                problems.append(f"job {job_id}: guard {guard!r} not understood: {error}")
        environment = job.get("environment")
        name = environment.get("name") if isinstance(environment, dict) else environment
        if strip_expression(name) != "inputs.stack":
            problems.append(
                f"job {job_id}: environment must be ${{{{ inputs.stack }}}}, is {name!r}"
            )
        problems += _retry_problems(job_id, job)
    for stack_name in ("dev", "prod"):
        problems += concurrency_problems(workflow, f"pulumi-{stack_name}", {"stack": stack_name})
    return problems


def _retry_problems(job_id: str, job: Doc) -> list[str]:
    destroys = [
        step
        for step in job.get("steps") or []
        if str(step.get("uses", "")).startswith("pulumi/actions@")
        and (step.get("with") or {}).get("command") == "destroy"
    ]
    if len(destroys) != 2:
        return [f"job {job_id}: expected a destroy and one retry, found {len(destroys)} destroys"]
    first, retry = destroys
    problems = []
    for step in destroys:
        if not is_true((step.get("with") or {}).get("exclude-protected")):
            problems.append(f"job {job_id}: destroy without exclude-protected: true")
    if not first.get("id") or not is_true(first.get("continue-on-error")):
        problems.append(f"job {job_id}: first destroy needs an id and continue-on-error: true")
    if is_true((first.get("with") or {}).get("refresh")):
        problems.append(f"job {job_id}: the first destroy should not need refresh")
    if not is_true((retry.get("with") or {}).get("refresh")):
        problems.append(f"job {job_id}: the retry must run with refresh: true")
    if is_true(retry.get("continue-on-error")):
        problems.append(f"job {job_id}: a failed retry must fail the job")
    expected_if = f"steps.{first.get('id')}.outcome == 'failure'"
    if strip_expression(retry.get("if", "")) != expected_if:
        problems.append(f"job {job_id}: retry must run only if {expected_if}")
    for step in (first, retry):
        if (step.get("with") or {}).get("stack-name") != "${{ inputs.stack }}":
            problems.append(f"job {job_id}: destroy stack-name must be ${{{{ inputs.stack }}}}")
    return problems


def test_pinned_rule_flags_branches_and_missing_refs() -> None:
    doc = {
        "jobs": {
            "a": {
                "steps": [
                    {"uses": "actions/checkout@main"},
                    {"uses": "actions/setup-python@master"},
                    {"uses": "pulumi/actions"},
                    {"uses": "actions/upload-artifact@latest"},
                    {"uses": "docker://alpine"},
                    {"uses": "actions/checkout@v4"},
                    {"uses": "actions/checkout@v4.2.2"},
                    {"uses": "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683"},
                    {"uses": "docker://alpine:3.20"},
                    {"uses": "./.github/actions/setup"},
                ]
            }
        }
    }
    flagged = unpinned_uses(doc)
    assert len(flagged) == 5, flagged
    assert all(any(bad in f for f in flagged) for bad in ("@main", "@master", "@latest"))


# --------------------------------------------------------------------------------------------
# The real workflows
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workflows() -> dict[str, Doc]:
    return {p.name: load(p) for p in WORKFLOW_FILES}


@pytest.mark.parametrize(
    "path", WORKFLOW_FILES + ACTION_FILES, ids=lambda p: str(p.relative_to(ROOT))
)
def test_uses_pinned_and_resolvable(path: Path) -> None:
    doc = load(path)
    assert unpinned_uses(doc) == []
    assert missing_local_actions(doc) == []


@pytest.mark.parametrize(
    "path", WORKFLOW_FILES + ACTION_FILES, ids=lambda p: str(p.relative_to(ROOT))
)
def test_no_long_lived_aws_keys(path: Path) -> None:
    assert long_lived_aws_keys(path.read_text()) == []


# First major of each action whose `runs.using` is node24. GitHub has forced Node 20 actions
# onto Node 24 since June 2026 and removed Node 20 from its runners in September 2026;
# configure-aws-credentials@v5 was reported to hang at OIDC role assumption when forced
# (tinymce/tinymce-docs#4250). actionlint 1.17 flags every older major below as node20.
NODE24_MAJORS = {
    "actions/checkout": 5,
    "actions/setup-python": 6,
    "actions/upload-artifact": 6,
    # actions/download-artifact#452 (v7.0.0): first major whose action.yml says node24.
    "actions/download-artifact": 7,
    "aws-actions/configure-aws-credentials": 6,
    "pulumi/actions": 7,
}


def node20_era_uses(doc: Doc) -> list[str]:
    problems = []
    for uses in all_uses(doc):
        name, _, ref = uses.partition("@")
        match = re.fullmatch(r"v(\d+)(?:\.\d+){0,2}", ref)
        if name in NODE24_MAJORS and match and int(match.group(1)) < NODE24_MAJORS[name]:
            problems.append(f"{uses}: Node 20 era; use {name}@v{NODE24_MAJORS[name]} or later")
    return problems


def test_action_versions(workflows: dict[str, Doc]) -> None:
    docs = [*workflows.values(), *(load(p) for p in ACTION_FILES)]
    uses = {u.partition("@")[0] for doc in docs for u in all_uses(doc)}
    assert set(NODE24_MAJORS) <= uses, f"missing: {sorted(set(NODE24_MAJORS) - uses)}"
    assert [p for doc in docs for p in node20_era_uses(doc)] == []
    pulumi = {u for doc in docs for u in all_uses(doc) if u.startswith("pulumi/actions@")}
    assert pulumi == {PULUMI_ACTION}, pulumi


def test_node24_rule_flags_old_majors() -> None:
    doc = {
        "jobs": {
            "a": {
                "steps": [
                    {"uses": "actions/checkout@v4"},
                    {"uses": "aws-actions/configure-aws-credentials@v4.1.0"},
                    {"uses": "actions/checkout@v6"},
                ]
            }
        }
    }
    assert len(node20_era_uses(doc)) == 2


@pytest.mark.parametrize("name", [p.name for p in WORKFLOW_FILES])
def test_cloud_access(workflows: dict[str, Doc], name: str) -> None:
    assert cloud_access_problems(workflows[name]) == []


def test_preview(workflows: dict[str, Doc]) -> None:
    assert preview_problems(workflows["preview.yml"]) == []


def test_deploy(workflows: dict[str, Doc]) -> None:
    assert deploy_problems(workflows["deploy.yml"]) == []


def test_destroy(workflows: dict[str, Doc]) -> None:
    assert destroy_problems(workflows["destroy.yml"]) == []


def test_up_and_destroy_only_where_intended(workflows: dict[str, Doc]) -> None:
    runs_command = {name: pulumi_commands(doc) - {"None"} for name, doc in workflows.items()}
    assert {n for n, c in runs_command.items() if "up" in c} == {"deploy.yml"}, runs_command
    assert {n for n, c in runs_command.items() if "destroy" in c} == {"destroy.yml"}, runs_command
    assert {n for n, c in runs_command.items() if "preview" in c} == {"preview.yml"}, runs_command


def test_test_workflow(workflows: dict[str, Doc]) -> None:
    workflow = workflows["test.yml"]
    on = triggers(workflow)
    assert "pull_request" in on
    assert (on.get("push") or {}).get("branches") == ["main"]
    assert pulumi_commands(workflow) == set(), "test.yml must not touch a real stack"
    runs = [" ".join(str(step.get("run", "")).split()) for *_, step in steps(workflow)]
    for command in ("make test", "make plan STACK=dev", "make plan STACK=prod"):
        assert command in runs, runs
    uploads = [
        step.get("with") or {}
        for *_, step in steps(workflow)
        if str(step.get("uses", "")).startswith("actions/upload-artifact@")
    ]
    assert [u.get("path") for u in uploads] == ["build/plan/"]
    all_text = "\n".join(p.read_text() for p in [WORKFLOWS_DIR / "test.yml", *ACTION_FILES])
    assert "cache-dependency-path: requirements*.txt" in all_text
    assert "cache: pip" in all_text


def test_setup_action_creates_the_pulumi_venv() -> None:
    """Pulumi.yaml's runtime uses .venv; the shared setup action must create exactly that."""
    action = ROOT / ".github" / "actions" / "setup" / "action.yml"
    doc = load(action)
    assert doc["runs"]["using"] == "composite"
    run = "\n".join(str(s.get("run", "")) for s in doc["runs"]["steps"])
    assert "python -m venv .venv" in run
    assert ".venv/bin/python -m pip install" in run
    python = next(
        s
        for s in doc["runs"]["steps"]
        if str(s.get("uses", "")).startswith("actions/setup-python@")
    )
    assert python["with"]["cache"] == "pip"
    assert python["with"]["cache-dependency-path"] == "requirements*.txt"
    assert doc["inputs"]["python-version"]["default"] == "3.11"


# --------------------------------------------------------------------------------------------
# The rules reject broken copies of the real workflows
# --------------------------------------------------------------------------------------------


def _step(workflow: Doc, command: str) -> Doc:
    return next(
        s for *_, s in pulumi_steps(workflow) if (s.get("with") or {}).get("command") == command
    )


def test_preview_rule_rejects_mutants(workflows: dict[str, Doc]) -> None:
    original = workflows["preview.yml"]

    def mutant(change: Any) -> Doc:
        doc = copy.deepcopy(original)
        change(doc)
        return doc

    broken = {
        "no comment": mutant(
            lambda d: _step(d, "preview")["with"].update({"comment-on-pr": False})
        ),
        "runs up": mutant(lambda d: _step(d, "preview")["with"].update({"command": "up"})),
        "no id-token": mutant(lambda d: d["permissions"].pop("id-token")),
        "on push": mutant(lambda d: d.update({True: {"push": None}}) or d.pop("on", None)),
        "cancels": mutant(lambda d: d["concurrency"].update({"cancel-in-progress": True})),
        "v6": mutant(lambda d: _step(d, "preview").update({"uses": "pulumi/actions@v6"})),
    }
    for label, doc in broken.items():
        assert preview_problems(doc), label
    assert cloud_access_problems(broken["no id-token"])


def test_deploy_rule_rejects_mutants(workflows: dict[str, Doc]) -> None:
    original = workflows["deploy.yml"]
    for label, change in {
        "also on PRs": lambda d: triggers(d).update({"pull_request": None}),
        "other branch": lambda d: triggers(d)["push"].update({"branches": ["release"]}),
        "preview only": lambda d: _step(d, "up")["with"].update({"command": "preview"}),
        "no environment": lambda d: next(iter(jobs(d).values())).pop("environment"),
        "other group": lambda d: d["concurrency"].update({"group": "deploy"}),
    }.items():
        doc = copy.deepcopy(original)
        change(doc)
        assert deploy_problems(doc), label


def test_destroy_rule_rejects_mutants(workflows: dict[str, Doc]) -> None:
    original = workflows["destroy.yml"]

    def destroy_job(doc: Doc) -> Doc:
        return next(
            j
            for j in jobs(doc).values()
            if "destroy" in {(s.get("with") or {}).get("command") for s in j.get("steps") or []}
        )

    for label, change in {
        "no guard": lambda d: destroy_job(d).pop("if"),
        "inverted guard": lambda d: destroy_job(d).update({"if": "inputs.confirm != inputs.stack"}),
        "fixed word": lambda d: destroy_job(d).update({"if": "inputs.confirm == 'yes'"}),
        "also on push": lambda d: triggers(d).update({"push": {"branches": ["main"]}}),
        "no retry": lambda d: destroy_job(d)["steps"].pop(),
        "retry without refresh": lambda d: destroy_job(d)["steps"][-1]["with"].pop("refresh"),
        "protected resources destroyed": lambda d: destroy_job(d)["steps"][-1]["with"].pop(
            "exclude-protected"
        ),
        "allowed by default": lambda d: triggers(d)["workflow_dispatch"]["inputs"][
            "allow_protected"
        ].update({"default": True}),
        "fixed environment": lambda d: destroy_job(d).update({"environment": "dev"}),
    }.items():
        doc = copy.deepcopy(original)
        change(doc)
        assert destroy_problems(doc), label


def test_credential_rules_reject_mutants(workflows: dict[str, Doc]) -> None:
    doc = copy.deepcopy(workflows["deploy.yml"])
    job = next(iter(jobs(doc).values()))
    job["steps"] = [
        s for s in job["steps"] if not str(s.get("uses", "")).startswith("aws-actions/")
    ]
    job["env"]["PULUMI_ACCESS_TOKEN"] = "pul-0123"
    problems = cloud_access_problems(doc)
    assert any("configure-aws-credentials" in p for p in problems), problems
    assert any("PULUMI_ACCESS_TOKEN" in p for p in problems), problems

    leaked = (
        (WORKFLOWS_DIR / "deploy.yml")
        .read_text()
        .replace(
            "    env:\n",
            "    env:\n      AWS_ACCESS_KEY_ID: ${{ secrets.AWS_ACCESS_KEY_ID }}\n"
            "      AWS_SECRET_ACCESS_KEY: ${{ secrets.AWS_SECRET_ACCESS_KEY }}\n",
            1,
        )
    )
    assert len(long_lived_aws_keys(leaked)) == 2
    with_inputs = "with:\n  aws-access-key-id: x\n  aws-secret-access-key: y\n"
    assert len(long_lived_aws_keys(with_inputs)) == 2

    no_venv = copy.deepcopy(workflows["preview.yml"])
    for job in jobs(no_venv).values():
        job["steps"] = [s for s in job["steps"] if not str(s.get("uses", "")).startswith("./")]
    assert any("requirements.txt" in p for p in cloud_access_problems(no_venv))


def test_guard_evaluator_refuses_what_it_cannot_read() -> None:
    with pytest.raises(ValueError):
        evaluate_guard("${{ inputs.confirm == inputs.stack || true }}", {})
    assert evaluate_guard(
        "${{ inputs.confirm == inputs.stack }}", {"confirm": "DEV", "stack": "dev"}
    )


# --------------------------------------------------------------------------------------------
# Plan diff on pull requests: untrusted code renders, trusted code comments
# --------------------------------------------------------------------------------------------

PLAN_DIFF = "plan-diff.yml"
PLAN_DIFF_COMMENT = "plan-diff-comment.yml"


def _runs(workflow: Doc) -> str:
    return "\n".join(str(step.get("run", "")) for *_, step in steps(workflow))


def _uses(workflow: Doc, prefix: str) -> list[Doc]:
    return [s for *_, s in steps(workflow) if str(s.get("uses", "")).startswith(prefix)]


def _write_scopes(workflow: Doc) -> set[str]:
    scopes: set[str] = set()
    for job in jobs(workflow).values():
        scopes |= {k for k, v in permissions(workflow, job).items() if v == "write"}
    return scopes


def no_pull_request_target(workflow: Doc) -> list[str]:
    """pull_request_target runs with a write token and secrets: never for code from a PR."""
    return (
        ["pull_request_target runs PR code with secrets"]
        if "pull_request_target" in (triggers(workflow))
        else []
    )


def plan_diff_problems(workflow: Doc, text: str) -> list[str]:
    problems = []
    if set(triggers(workflow)) != {"pull_request"}:
        problems.append(f"triggers {sorted(triggers(workflow))} != ['pull_request']")
    if _write_scopes(workflow):
        problems.append(f"write permissions {sorted(_write_scopes(workflow))}: runs PR code")
    if re.search(r"secrets\.", text) or pulumi_steps(workflow):
        problems.append("no secrets and no Pulumi: the plan runs under mocks")
    if _uses(workflow, AWS_CREDENTIALS_ACTION):
        problems.append("no cloud credentials")
    checkouts = _uses(workflow, "actions/checkout@")
    refs = {strip_expression((s.get("with") or {}).get("ref", "")) for s in checkouts}
    if len(checkouts) != 2 or refs != {"", "github.event.pull_request.base.sha"}:
        problems.append("check out the head and the base (github.event.pull_request.base.sha)")
    if any((s.get("with") or {}).get("persist-credentials") is not False for s in checkouts):
        problems.append("checkouts must not persist the token (persist-credentials: false)")
    runs = _runs(workflow)
    if "Pulumi.*.yaml" not in runs or "-m tools.plan --stack" not in runs:
        problems.append("render tools.plan for every committed stack (Pulumi.*.yaml)")
    if "-m tools.plan.diff" not in runs:
        problems.append("diff with tools.plan.diff")
    uploads = _uses(workflow, "actions/upload-artifact@")
    if [(s.get("with") or {}).get("name") for s in uploads] != ["plan-diff"]:
        problems.append("upload one artifact named plan-diff")
    if "pr-number" not in runs or "plan-diff.md" not in runs:
        problems.append("the artifact carries pr-number and plan-diff.md")
    return problems


def plan_diff_comment_problems(workflow: Doc, diff_workflow: Doc) -> list[str]:
    problems = []
    on = triggers(workflow)
    run_trigger = on.get("workflow_run") or {}
    if set(on) != {"workflow_run"} or run_trigger.get("workflows") != [diff_workflow.get("name")]:
        problems.append(f"must run on workflow_run of {diff_workflow.get('name')!r} only")
    if run_trigger.get("types") != ["completed"]:
        problems.append("workflow_run types must be [completed]")
    expected = {"actions": "read", "pull-requests": "write"}
    for job_id, job in jobs(workflow).items():
        if permissions(workflow, job) != expected:
            problems.append(f"job {job_id}: permissions must be exactly {expected}")
        guard = strip_expression(job.get("if", ""))
        for clause in (
            "github.event.workflow_run.event == 'pull_request'",
            "github.event.workflow_run.conclusion == 'success'",
        ):
            if clause not in guard:
                problems.append(f"job {job_id}: `if` must require {clause}")
    if _uses(workflow, "actions/checkout@") or _uses(workflow, "./"):
        problems.append("never check out (or run actions from) the pull request")
    runs = _runs(workflow)
    if re.search(r"(?:^|[;&|\s])(?:bash|sh|source|\.)\s+plan-diff/|python\S*\s+plan-diff/", runs):
        problems.append("the artifact is data: never execute it")
    if "^[0-9]+$" not in runs:
        problems.append("check that the artifact's PR number is digits")
    if "HEAD_SHA" not in runs or "workflow_run.head_sha" not in json.dumps(workflow):
        problems.append("check that the PR's head is the commit plan-diff ran on")
    downloads = _uses(workflow, "actions/download-artifact@")
    if [strip_expression((s.get("with") or {}).get("run-id")) for s in downloads] != [
        "github.event.workflow_run.id"
    ]:
        problems.append("download the artifact of the triggering run (run-id)")
    return problems


@pytest.mark.parametrize("name", [p.name for p in WORKFLOW_FILES])
def test_no_workflow_uses_pull_request_target(workflows: dict[str, Doc], name: str) -> None:
    assert no_pull_request_target(workflows[name]) == []


def test_plan_diff(workflows: dict[str, Doc]) -> None:
    text = (WORKFLOWS_DIR / PLAN_DIFF).read_text()
    assert plan_diff_problems(workflows[PLAN_DIFF], text) == []
    assert {p.name for p in ROOT.glob("Pulumi.*.yaml")} >= {"Pulumi.dev.yaml", "Pulumi.prod.yaml"}


def test_plan_diff_comment(workflows: dict[str, Doc]) -> None:
    assert plan_diff_comment_problems(workflows[PLAN_DIFF_COMMENT], workflows[PLAN_DIFF]) == []


def test_plan_diff_rules_reject_mutants(workflows: dict[str, Doc]) -> None:
    original = workflows[PLAN_DIFF]
    text = (WORKFLOWS_DIR / PLAN_DIFF).read_text()

    def job(doc: Doc) -> Doc:
        return next(iter(jobs(doc).values()))

    for label, change in {
        "target": lambda d: d.update({True: {"pull_request_target": None}}) or d.pop("on", None),
        "write token": lambda d: d["permissions"].update({"pull-requests": "write"}),
        "no base": lambda d: job(d)["steps"].pop(1),
        "token kept": lambda d: job(d)["steps"][0]["with"].pop("persist-credentials"),
        "no upload": lambda d: job(d)["steps"].pop(),
        "dev only": lambda d: [
            s.update({"run": str(s["run"]).replace("Pulumi.*.yaml", "Pulumi.dev.yaml")})
            for s in job(d)["steps"]
            if "run" in s
        ],
    }.items():
        doc = copy.deepcopy(original)
        change(doc)
        assert plan_diff_problems(doc, text), label
    assert plan_diff_problems(original, text + "\n# ${{ secrets.PULUMI_ACCESS_TOKEN }}\n")
    assert no_pull_request_target({True: {"pull_request_target": None}})


def test_plan_diff_comment_rules_reject_mutants(workflows: dict[str, Doc]) -> None:
    original, diff_workflow = workflows[PLAN_DIFF_COMMENT], workflows[PLAN_DIFF]

    def job(doc: Doc) -> Doc:
        return next(iter(jobs(doc).values()))

    def run_step(doc: Doc) -> Doc:
        return next(s for s in job(doc)["steps"] if "run" in s)

    for label, change in {
        "other workflow": lambda d: triggers(d)["workflow_run"].update({"workflows": ["test"]}),
        "also on PRs": lambda d: triggers(d).update({"pull_request": None}),
        "contents write": lambda d: d["permissions"].update({"contents": "write"}),
        "runs on failure": lambda d: job(d).update(
            {"if": "github.event.workflow_run.event == 'pull_request'"}
        ),
        "checks out": lambda d: job(d)["steps"].insert(0, {"uses": "actions/checkout@v6"}),
        "executes artifact": lambda d: run_step(d).update(
            {"run": str(run_step(d)["run"]) + "\nbash plan-diff/plan-diff.md\n"}
        ),
        "trusts pr number": lambda d: run_step(d).update(
            {"run": str(run_step(d)["run"]).replace("^[0-9]+$", ".*")}
        ),
        "no head check": lambda d: run_step(d).update(
            {"run": str(run_step(d)["run"]).replace("HEAD_SHA", "SHA")}
        ),
    }.items():
        doc = copy.deepcopy(original)
        change(doc)
        assert plan_diff_comment_problems(doc, diff_workflow), label


def third_party_pin_problems(path: Path) -> list[str]:
    """A third-party action not pinned to its known commit, with the tag in a comment."""
    problems = []
    for line in path.read_text().splitlines():
        match = re.match(r"^\s*(?:- )?uses:\s*([^@\s]+)@(\S+)(?:\s*#\s*(\S+))?", line)
        if not match or match.group(1).startswith(("./", "docker://", "actions/")):
            continue
        name, ref, comment = match.groups()
        if name not in THIRD_PARTY_PINS:
            problems.append(f"{path.name}: {name} is a third-party action without a known pin")
        elif (ref, comment) != THIRD_PARTY_PINS[name]:
            sha, tag = THIRD_PARTY_PINS[name]
            problems.append(f"{path.name}: {name}@{ref} # {comment}; pin {name}@{sha} # {tag}")
    return problems


@pytest.mark.parametrize(
    "path", WORKFLOW_FILES + ACTION_FILES, ids=lambda p: str(p.relative_to(ROOT))
)
def test_third_party_actions_are_pinned_by_commit(path: Path) -> None:
    assert third_party_pin_problems(path) == []


def test_third_party_pin_rule_flags_tags(tmp_path: Path) -> None:
    workflow = tmp_path / "w.yml"
    workflow.write_text(
        "steps:\n  - uses: pulumi/actions@v7\n  - uses: someone/else@1234567\n"
        "  - uses: actions/checkout@v6\n"
    )
    assert third_party_pin_problems(workflow) == [
        "w.yml: pulumi/actions@v7 # None; pin pulumi/actions@"
        "8e5e406f4007fca908480587cb9893c07090f58d # v7.0.0",
        "w.yml: someone/else is a third-party action without a known pin",
    ]


def test_pulumi_cli_matches_the_pinned_sdk(workflows: dict[str, Doc]) -> None:
    """The CLI and the Python SDK are released together; the action otherwise installs the
    newest CLI (pulumi/actions@v7.0.0 action.yml `pulumi-version`)."""
    (sdk,) = [
        line.split()[0].split("==")[1]  # requirements.txt is uv.lock's export: `pin \` + hashes
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.startswith("pulumi==")
    ]
    steps_ = [s for doc in workflows.values() for *_, s in pulumi_steps(doc)]
    assert steps_ and {str((s.get("with") or {}).get("pulumi-version")) for s in steps_} == {sdk}
