"""mypy skips the provider packages the program does not call (pyproject.toml says why): every
one it does call must still be followed, or its resources' arguments go unchecked as Any.

The code's own imports are read with `ast`, each `pulumi_aws.X` / `pulumi_kubernetes.X` it
reaches is resolved to the module that defines it, and mypy's own config reader and
per-module precedence decide whether that module is followed.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from mypy.config_parser import parse_config_file
from mypy.options import Options

from tests.plan_support import ROOT
from tests.test_layering import project_modules

PROVIDERS = ("pulumi_aws", "pulumi_kubernetes")


def provider_attributes(source: str) -> Iterator[tuple[str, str]]:
    """(package, first attribute) of every `alias.attribute` where alias names a provider
    package, and (package, name) of every `from package import name`."""
    tree = ast.parse(source)
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for name in node.names:
                if name.name in PROVIDERS:
                    aliases[name.asname or name.name] = name.name
        elif isinstance(node, ast.ImportFrom) and node.module:
            package, _, rest = node.module.partition(".")
            if package in PROVIDERS:
                for name in node.names:
                    yield package, rest.split(".")[0] if rest else name.name
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
        ):
            yield aliases[node.value.id], node.attr


def defining_module(package: str, attribute: str) -> str:
    """The module mypy must read for `package.attribute`: the submodule itself, or the module
    that defines the function or class."""
    value = getattr(importlib.import_module(package), attribute)
    return str(getattr(value, "__name__", "")) if hasattr(value, "__path__") else value.__module__


def mypy_options() -> Options:
    options = Options()
    parse_config_file(
        options, lambda: None, str(ROOT / "pyproject.toml"), io.StringIO(), io.StringIO()
    )
    return options


def used_provider_modules() -> dict[str, str]:
    """Module -> the first file that reaches it."""
    used: dict[str, str] = {}
    # The project's modules as the layering contract lists them: the program, components,
    # tools, bench and the policy pack (tests may import anything).
    for path in project_modules(ROOT).values():
        for package, attribute in provider_attributes(path.read_text()):
            module = defining_module(package, attribute)
            used.setdefault(module, str(path.relative_to(ROOT)))
    return used


def test_every_provider_module_the_code_calls_is_followed() -> None:
    options = mypy_options()
    used = used_provider_modules()
    assert "pulumi_aws.ec2" in used and "pulumi_kubernetes.core" in used
    skipped = [
        f"{module} (used in {where})"
        for module, where in sorted(used.items())
        if options.clone_for_module(module).follow_imports != "normal"
    ]
    assert skipped == [], "add these to the follow_imports = 'normal' override in pyproject.toml"


def test_unused_services_are_skipped() -> None:
    """The point of the override: pulumi_aws's hundreds of other services are not read."""
    options = mypy_options()
    for module in ("pulumi_aws.sagemaker", "pulumi_aws.ec2.outputs", "pulumi_kubernetes.storage"):
        expected = "normal" if module.startswith("pulumi_aws.ec2") else "skip"
        assert options.clone_for_module(module).follow_imports == expected, module


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import pulumi_aws as aws\naws.sqs.Queue('q')\n", ("pulumi_aws", "sqs")),
        ("from pulumi_kubernetes.core.v1 import Pod\n", ("pulumi_kubernetes", "core")),
        (
            "import pulumi_aws\npulumi_aws.get_caller_identity()\n",
            ("pulumi_aws", "get_caller_identity"),
        ),
    ],
)
def test_provider_uses_are_found(source: str, expected: tuple[str, str]) -> None:
    assert expected in set(provider_attributes(source))


def test_a_function_resolves_to_its_defining_module() -> None:
    assert defining_module("pulumi_aws", "get_caller_identity") == "pulumi_aws.get_caller_identity"
    assert defining_module("pulumi_aws", "sqs") == "pulumi_aws.sqs"


def test_make_unit_precompiles_what_mypy_follows_and_no_other_service() -> None:
    """tools/maintain/precompile.py reads the same list: the modules a plan imports."""
    from tools.maintain import precompile

    files = {str(path) for path in precompile.source_files(precompile.followed_modules())}
    spec = importlib.util.find_spec("pulumi_aws")
    assert spec and spec.origin
    aws = Path(spec.origin).parent
    for expected in ("__init__.py", "get_caller_identity.py", "ec2/vpc.py", "iam/role.py"):
        assert str(aws / expected) in files, expected
    assert not [name for name in files if "/pulumi_aws/sagemaker/" in name]
    kubernetes_spec = importlib.util.find_spec("pulumi_kubernetes")
    assert kubernetes_spec and kubernetes_spec.origin
    assert str(Path(kubernetes_spec.origin).parent / "core" / "v1" / "Pod.py") in files
