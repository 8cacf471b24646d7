"""Stack configuration as the Pulumi CLI would hand it to the program, read without the CLI.

Pulumi.yaml's `config:` defaults are applied first, then `Pulumi.<stack>.yaml` overrides them,
exactly as `pulumi up` does, and the CLI's own checks run on the result with the CLI's wording
(`cli_rule_problems`), so a stack file the CLI would refuse is refused here too. Values are
returned JSON-encoded for structured types (the form `pulumi.Config.get_object` parses) and as
plain strings otherwise. `secure:` values cannot be decrypted offline; they become a placeholder
and stay marked secret.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from components.config.model import ConfigError, StackConfig, decode, parse_config, project_key_type

ROOT = Path(__file__).resolve().parents[2]
SECRET_PLACEHOLDER = "offline-placeholder-secret"
CLI_SOURCE = "pulumi/pulumi:pkg/workspace/config.go@v3.259.0"
PROJECT_SOURCE = "pulumi/pulumi:sdk/go/common/workspace/project.go@v3.259.0"


@dataclass(frozen=True)
class StackSettings:
    """What the CLI would pass to the program: project, stack and config."""

    project: str
    stack: str
    config: dict[str, str]
    secret_keys: list[str] = field(default_factory=list)

    def raw(self, key: str) -> Any:
        """The decoded value of a project key, as `pulumi.Config.get_<type>` would return it."""
        value = self.config.get(f"{self.project}:{key}")
        if value is None:
            return None
        return decode(value, project_key_type(key))

    def project_values(self) -> dict[str, Any]:
        """Every plaintext value in the project's namespace, decoded (secrets left out)."""
        prefix = f"{self.project}:"
        return {
            key.removeprefix(prefix): self.raw(key.removeprefix(prefix))
            for key in sorted(self.config)
            if key.startswith(prefix) and key not in self.secret_keys
        }


def _yaml(path: Path, what: str) -> dict[str, Any]:
    """A YAML file as a dict, or ConfigError with one line naming the file and the problem."""
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ConfigError([f"{what}: no file {path}"]) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ConfigError([f"{path.name}:{where}: YAML syntax error: {problem}"]) from None
    if not isinstance(document, dict):
        raise ConfigError([f"{path.name}: must be a YAML mapping, got {type(document).__name__}"])
    return document


def read_project(root: Path = ROOT) -> dict[str, Any]:
    """Pulumi.yaml as a dict."""
    return _yaml(root / "Pulumi.yaml", "Pulumi.yaml")


# --- The CLI's rules, mirrored with its wording -------------------------------------------------


@dataclass(frozen=True)
class CliValue:
    """A stack config value as the CLI holds it: a string, JSON `object` content, or secure."""

    text: str
    is_object: bool = False
    secure: bool = False

    @classmethod
    def of(cls, raw: Any) -> CliValue:
        # Stack-file scalars are kept as their text, maps and lists as JSON (`Object()`), the
        # `secure:` form as ciphertext; project defaults go through createConfigValue the same
        # way (CLI_SOURCE createConfigValue: primitives via fmt %v, the rest JSON-marshalled).
        if isinstance(raw, dict) and set(raw) == {"secure"}:
            return cls(str(raw["secure"]), secure=True)
        if isinstance(raw, (dict, list)):
            return cls(json.dumps(raw), is_object=True)
        if isinstance(raw, bool):
            return cls("true" if raw else "false")
        return cls("" if raw is None else str(raw))

    def content(self) -> Any:
        return json.loads(self.text) if self.is_object else self.text


def full_type_name(declaration: dict[str, Any]) -> str:
    """`InferFullTypeName` (PROJECT_SOURCE): array<items> for arrays, else the type."""
    items = declaration.get("items")
    if isinstance(items, dict):
        return f"array<{full_type_name(items)}>"
    return str(declaration.get("type"))


def value_matches(declaration: dict[str, Any], value: Any) -> bool:
    """`ValidateConfigValue` (PROJECT_SOURCE): does `value` fit the declared type?"""
    kind, items = declaration.get("type"), declaration.get("items")
    if kind == "string":
        return isinstance(value, str)
    if kind == "integer":
        # ints, whole floats (YAML/JSON numbers) and strings that strconv.Atoi accepts
        if isinstance(value, bool):
            return False
        if isinstance(value, int) or (isinstance(value, float) and math.trunc(value) == value):
            return True
        return isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value) is not None
    if kind == "boolean":
        return isinstance(value, bool) or value in ("true", "false")
    if kind == "object":
        return isinstance(value, dict)
    if not isinstance(value, list) or not isinstance(items, dict):
        return False
    return all(value_matches(items, item) for item in value)


def project_rule_problems(project: dict[str, Any]) -> list[str]:
    """`Project.Validate` (PROJECT_SOURCE) on the project's config declarations."""
    problems: list[str] = []
    for key, declaration in (project.get("config") or {}).items():
        if not isinstance(declaration, dict):
            continue
        if "default" in declaration and "value" in declaration:
            problems.append(
                f"project config '{key}' cannot have both a 'default' and 'value' attribute"
            )
        typed = "type" in declaration
        if typed and declaration["type"] == "array" and "items" not in declaration:
            problems.append(
                f"The configuration key '{key}' declares an array but does not specify the "
                "underlying type via the 'items' attribute"
            )
        elif (
            typed
            and "default" in declaration
            and not value_matches(declaration, declaration["default"])
        ):
            problems.append(
                f"The default value specified for configuration key '{key}' is not of "
                f"the expected type '{full_type_name(declaration)}'"
            )
    return problems


def _missing_keys_message(stack: str, missing: list[str]) -> str:
    """`missingStackConfigurationKeysError` and `formatMissingKeys` (CLI_SOURCE)."""
    quoted = [f"'{key}'" for key in sorted(missing)]
    if len(quoted) == 1:
        return f"Stack '{stack}' is missing configuration value {quoted[0]}"
    listed = ", ".join(quoted[:-1]) + f" and {quoted[-1]}"
    return f"Stack '{stack}' is missing configuration values {listed}"


def cli_rule_problems(
    stack: str, project: dict[str, Any], stack_config: dict[str, Any]
) -> list[str]:
    """The checks `pulumi preview/up/destroy` run before the program starts, in the CLI's words.

    `mergeConfig` (CLI_SOURCE): a project key (declared in Pulumi.yaml, in the project's
    namespace) with neither `default` nor `value` must be set by the stack. Then, after the
    defaults are merged, `validateStackConfigValue` checks every explicitly typed key: a key
    declared `secret: true` must be `secure:` (a default is never secure, so a secret key with a
    default is refused too) and the value must match the declared type. The CLI stops at its
    first error; this reports every one, sorted by key like the CLI's loop.
    """
    name = str(project.get("name", ""))
    problems: list[str] = []
    values: dict[str, CliValue] = {}
    for key, raw in stack_config.items():
        # config.ParseKey (sdk/go/common/resource/config/key.go@v3.259.0)
        if str(key).count(":") != 1:
            problems.append(
                f"could not parse {key} as a configuration key "
                "(configuration keys should be of the form `<namespace>:<name>`)"
            )
            continue
        values[str(key)] = CliValue.of(raw)
    missing: list[str] = []
    declared = project.get("config") or {}
    for key in sorted(declared):
        declaration = declared[key]
        if not isinstance(declaration, dict):
            declaration = {"value": declaration}
        full = key if ":" in key else f"{name}:{key}"
        if full not in values:
            if "default" not in declaration and "value" not in declaration:
                if full.split(":")[0] == name:
                    missing.append(key)
                continue
            default = declaration.get("default", declaration.get("value"))
            values[full] = CliValue.of(default)
        value = values[full]
        if "type" not in declaration:  # IsExplicitlyTyped
            continue
        if declaration.get("secret") and not value.secure:
            problems.append(
                f"Stack '{stack}' with configuration key '{key}' must be encrypted as it's secret"
            )
        elif not value.secure and not value_matches(declaration, value.content()):
            problems.append(
                f"Stack '{stack}' with configuration key '{key}' must be of type "
                f"'{full_type_name(declaration)}'"
            )
    if missing:
        problems.insert(0, _missing_keys_message(stack, missing))
    return problems


# --- Loading -------------------------------------------------------------------------------------


def load_stack_settings(
    stack: str,
    root: Path = ROOT,
    stack_file: Path | None = None,
    secret_value: str = SECRET_PLACEHOLDER,
    overrides: dict[str, Any] | None = None,
    secrets: dict[str, str] | None = None,
) -> StackSettings:
    """Merge Pulumi.yaml defaults with the stack file as `pulumi up` would, or raise ConfigError
    with the CLI's own message for each problem the CLI would stop at.

    `overrides` and `secrets` (keys with or without the project namespace) act like
    `pulumi config set [--secret]` on the stack file before the merge."""
    project = read_project(root)
    name = str(project.get("name", ""))
    path = stack_file or root / f"Pulumi.{stack}.yaml"
    if not path.exists():
        raise ConfigError(
            [f"no stack file {path.name}; create it with `pulumi stack init {stack}`"]
        )
    stack_config = dict(_yaml(path, path.name).get("config") or {})
    for key, value in (overrides or {}).items():
        stack_config[_qualify(name, key)] = value
    plain_secrets = {_qualify(name, key): value for key, value in (secrets or {}).items()}
    for key in plain_secrets:
        stack_config[key] = {"secure": "v1:set-offline"}
    problems = project_rule_problems(project) + cli_rule_problems(stack, project, stack_config)
    if problems:
        raise ConfigError(problems)
    config: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, declaration in (project.get("config") or {}).items():
        if not isinstance(declaration, dict):
            declaration = {"value": declaration}
        for attribute in ("value", "default"):
            if attribute in declaration:
                config[key if ":" in key else f"{name}:{key}"] = _encode(declaration[attribute])
    for key, value in stack_config.items():
        if CliValue.of(value).secure:
            config[key] = plain_secrets.get(key, secret_value)
            secret_keys.append(key)
        else:
            config[key] = _encode(value)
    return StackSettings(project=name, stack=stack, config=config, secret_keys=secret_keys)


def _qualify(project: str, key: str) -> str:
    return key if ":" in key else f"{project}:{key}"


def _encode(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def settings_to_config(settings: StackSettings) -> StackConfig:
    """Validate a merged stack configuration with the program's own model."""
    return parse_config(
        settings.project_values(),
        project=settings.project,
        stack=settings.stack,
        region=settings.config.get("aws:region"),
        has_hf_token=f"{settings.project}:hfToken" in settings.secret_keys,
    )


def load_typed_config(stack: str, root: Path = ROOT, stack_file: Path | None = None) -> StackConfig:
    """The validated StackConfig of a stack, for tools that run outside Pulumi."""
    return settings_to_config(load_stack_settings(stack, root, stack_file))


def load_config_for_tool(tool: str, stack: str, stack_file: Path | None) -> StackConfig | None:
    """The stack's validated config for a command-line tool, or None after printing each
    problem as `<tool>: <problem>` on stderr (the tool then exits 2)."""
    try:
        return load_typed_config(stack, stack_file=stack_file)
    except ConfigError as error:
        for problem in error.problems:
            print(f"{tool}: {problem}", file=sys.stderr)
    return None


def add_stack_arguments(parser: argparse.ArgumentParser) -> None:
    """The --stack/--stack-file pair every operator tool takes."""
    parser.add_argument("--stack", required=True, help="stack name (reads Pulumi.<stack>.yaml)")
    parser.add_argument("--stack-file", type=Path, help="stack file instead of Pulumi.<stack>.yaml")
