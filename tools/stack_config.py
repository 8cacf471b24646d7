"""Stack configuration as the Pulumi CLI would hand it to the program, read without the CLI.

Pulumi.yaml's `config:` defaults are applied first, then `Pulumi.<stack>.yaml` overrides them,
exactly as `pulumi up` does. Values are returned JSON-encoded for structured types (the form
`pulumi.Config.get_object` parses) and as plain strings otherwise. `secure:` values cannot be
decrypted offline; they become a placeholder and stay marked secret.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from components.config import PROJECT_KEYS, ConfigError, StackConfig, parse_config

ROOT = Path(__file__).resolve().parent.parent
SECRET_PLACEHOLDER = "offline-placeholder-secret"


@dataclass(frozen=True)
class StackSettings:
    """What the CLI would pass to the program: project, stack and config."""

    project: str
    stack: str
    config: dict[str, str]
    secret_keys: list[str] = field(default_factory=list)

    def raw(self, key: str) -> Any:
        """The decoded value of a project key (for tools that read config without Pulumi)."""
        value = self.config.get(f"{self.project}:{key}")
        if value is None or PROJECT_KEYS.get(key, "string") == "string":
            return value
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value


def read_project(root: Path = ROOT) -> dict[str, Any]:
    """Pulumi.yaml as a dict."""
    with (root / "Pulumi.yaml").open() as handle:
        project: dict[str, Any] = yaml.safe_load(handle)
    return project


def _encode(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _qualify(project: str, key: str) -> str:
    return key if ":" in key else f"{project}:{key}"


def load_stack_settings(
    stack: str,
    root: Path = ROOT,
    stack_file: Path | None = None,
    secret_value: str = SECRET_PLACEHOLDER,
) -> StackSettings:
    """Merge Pulumi.yaml defaults with the stack file, as `pulumi up` would."""
    project = read_project(root)
    name = str(project["name"])
    config: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, declaration in (project.get("config") or {}).items():
        if isinstance(declaration, dict) and "default" in declaration:
            config[_qualify(name, key)] = _encode(declaration["default"])
        elif isinstance(declaration, dict) and "value" in declaration:
            config[_qualify(name, key)] = _encode(declaration["value"])
        elif not isinstance(declaration, dict):
            config[_qualify(name, key)] = _encode(declaration)
    path = stack_file or root / f"Pulumi.{stack}.yaml"
    if not path.exists():
        raise FileNotFoundError(f"no stack file {path}; create it with `pulumi stack init {stack}`")
    with path.open() as handle:
        stack_doc = yaml.safe_load(handle) or {}
    for key, value in (stack_doc.get("config") or {}).items():
        full = _qualify(name, key)
        if isinstance(value, dict) and set(value) == {"secure"}:
            config[full] = secret_value
            secret_keys.append(full)
        else:
            config[full] = _encode(value)
    return StackSettings(project=name, stack=stack, config=config, secret_keys=secret_keys)


def load_typed_config(stack: str, root: Path = ROOT, stack_file: Path | None = None) -> StackConfig:
    """The validated StackConfig of a stack, for tools that run outside Pulumi."""
    settings = load_stack_settings(stack, root, stack_file)
    raw = {key: settings.raw(key) for key in PROJECT_KEYS if settings.raw(key) is not None}
    return parse_config(
        raw,
        project=settings.project,
        stack=stack,
        region=settings.config.get("aws:region"),
        has_hf_token=f"{settings.project}:hfToken" in settings.config,
    )


def load_config_for_tool(tool: str, stack: str, stack_file: Path | None) -> StackConfig | None:
    """The stack's validated config for a command-line tool, or None after printing each
    problem as `<tool>: <problem>` on stderr (the tool then exits 2)."""
    try:
        return load_typed_config(stack, stack_file=stack_file)
    except ConfigError as error:
        problems = error.problems
    except FileNotFoundError as error:
        problems = [str(error)]
    for problem in problems:
        print(f"{tool}: {problem}", file=sys.stderr)
    return None


def add_stack_arguments(parser: argparse.ArgumentParser) -> None:
    """The --stack/--stack-file pair every operator tool takes."""
    parser.add_argument("--stack", required=True, help="stack name (reads Pulumi.<stack>.yaml)")
    parser.add_argument("--stack-file", type=Path, help="stack file instead of Pulumi.<stack>.yaml")
