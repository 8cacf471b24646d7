"""Parse a stack's raw configuration as the program does, and collect what it refuses."""

from __future__ import annotations

from typing import Any

import pytest

from components.config.model import ConfigError, StackConfig, parse_config


def parse(
    raw: dict[str, Any], region: str | None = "eu-central-1", token: bool = False
) -> StackConfig:
    return parse_config(raw, project="kserve-fluid", stack="t", region=region, has_hf_token=token)


def problems(raw: dict[str, Any], **kwargs: Any) -> list[str]:
    """Every problem line of the ConfigError `raw` is refused with (fails if it is accepted)."""
    with pytest.raises(ConfigError) as caught:
        parse(raw, **kwargs)
    return caught.value.problems
