"""Compile the Pulumi SDK and the provider modules the program calls, on every core, once.

`make unit` runs this before the test workers start: they all begin by rendering plans, and
workers racing to compile the same pulumi_aws modules cost more than compiling them first.
What is compiled is what mypy follows (pyproject.toml, `follow_imports = "normal"`; the test
tests/test_type_checking.py keeps that list equal to what the code calls), so unused services
of pulumi_aws (most of its 121 MB) are left alone. The bytecode goes where Python will look for
it (`PYTHONPYCACHEPREFIX` in the Makefile).
"""

from __future__ import annotations

import compileall
import importlib.util
import sys
import tomllib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The SDK, the other providers and what the SDK itself imports.
WHOLE_PACKAGES = (
    "pulumi",
    "pulumi_eks",
    "pulumi_policy",
    "grpc",
    "google.protobuf",
    "opentelemetry",
)


def followed_modules(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """The module patterns of pyproject.toml's mypy overrides with `follow_imports = "normal"`."""
    overrides = tomllib.loads(pyproject.read_text())["tool"]["mypy"]["overrides"]
    return [
        pattern
        for override in overrides
        if override.get("follow_imports") == "normal"
        for pattern in override["module"]
    ]


def source_files(patterns: list[str]) -> list[Path]:
    """The .py files per pattern: `pkg.*` is the package's whole tree, a package name its own
    folder only, a module name its file."""
    files: list[Path] = []
    for pattern in [*WHOLE_PACKAGES, *patterns]:
        spec = importlib.util.find_spec(pattern.removesuffix(".*"))
        if spec is None:
            continue
        if spec.submodule_search_locations:
            folder = Path(next(iter(spec.submodule_search_locations)))
            whole = pattern.endswith(".*") or pattern in WHOLE_PACKAGES
            files.extend(sorted(folder.rglob("*.py") if whole else folder.glob("*.py")))
        elif spec.origin and spec.origin.endswith(".py"):
            files.append(Path(spec.origin))
    return sorted(set(files))


def main() -> int:
    files = source_files(followed_modules())
    # One pool for every file: per-folder pools leave cores idle on the many small packages.
    with ProcessPoolExecutor() as pool:
        results = list(pool.map(_compile, files, chunksize=64))
    return 0 if all(results) else 1


def _compile(path: Path) -> bool:
    return bool(compileall.compile_file(path, quiet=1))


if __name__ == "__main__":
    sys.exit(main())
