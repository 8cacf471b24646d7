"""Render offline plans for the tests in forked children of one warm interpreter.

`python -m tools.plan` spends about half of each run importing pulumi, pulumi_aws and
pulumi_kubernetes. One run per process still holds (pulumi/pulumi#6561: the mocks' runtime
state is global), so this server never renders in itself: it forks a child per request, and
the child runs `tools.plan.render.main` exactly as `python -m tools.plan` would, its stdout
and stderr going to files. After the first render the server imports the modules that child
had loaded, so later children start with them: walked by attribute from the top package, the
way the program reaches them, because pulumi_kubernetes resolves `k8s.core.v1.Pod` lazily and
importing `pulumi_kubernetes.core.v1.Pod` by name first would leave a module where the class
belongs. `tests/test_plan_determinism.py` checks a forked render against a fresh interpreter.

Protocol: one JSON object per line on stdin (`argv`, `stdout`, `stderr`: file paths), one per
line on stdout (`returncode`). The server is single-threaded, so forking it is safe.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_S = 300.0
# Modules to preload: everything a render loads from these packages (stdlib and the
# rest come along as their dependencies).
PRELOADED = ("pulumi", "pulumi_aws", "pulumi_kubernetes", "pulumi_eks", "pulumi_policy")


def _render_in_child(request: dict[str, Any], modules_file: str | None) -> None:
    """The forked child: run the plan's main with its output in files, then exit."""
    code = 1
    try:
        with open(request["stdout"], "w") as out, open(request["stderr"], "w") as err:
            os.dup2(out.fileno(), 1)
            os.dup2(err.fileno(), 2)
        sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115 - the child exits below
        sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
        sys.argv = ["tools.plan", *request["argv"]]
        from tools.plan.render import main

        try:
            code = main(request["argv"])
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else 1
        if modules_file:
            Path(modules_file).write_text("\n".join(sorted(sys.modules)))
    except BaseException:  # reported as a traceback, as a fresh interpreter would
        traceback.print_exc()
        code = 1
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _wait(pid: int) -> int:
    """The child's exit status, killing it after TIMEOUT_S (status -9 then)."""
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return -signal.SIGKILL
        time.sleep(0.01)


def preload(names: list[str]) -> None:
    """Import `names` as the program reaches them: attribute by attribute from the top
    package, importing a submodule only where no attribute of that name exists yet."""
    for name in names:
        parts = name.split(".")
        if parts[0] not in PRELOADED:
            continue
        with contextlib.suppress(Exception):
            node: Any = importlib.import_module(parts[0])
            for depth, part in enumerate(parts[1:], start=2):
                try:
                    node = getattr(node, part)
                except AttributeError:
                    node = importlib.import_module(".".join(parts[:depth]))


def serve() -> None:
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    warm = False
    for line in sys.stdin:
        request = json.loads(line)
        modules_file = None if warm else f"{request['stdout']}.modules"
        pid = os.fork()
        if pid == 0:
            _render_in_child(request, modules_file)
        returncode = _wait(pid)
        if modules_file and Path(modules_file).exists():
            preload(Path(modules_file).read_text().split())
            Path(modules_file).unlink()
            warm = True
        print(json.dumps({"returncode": returncode}), flush=True)


if __name__ == "__main__":
    serve()
