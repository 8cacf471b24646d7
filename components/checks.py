"""Checks of the serving path that live outside components/config.py (hostnames, exposure),
run with the config validation so bad settings stop before any resource."""

from __future__ import annotations

from typing import Any

from components import exposure, hostnames
from components.config import ConfigError, StackConfig
from components.exposure import IngressSettings


def serving_settings(config: StackConfig, raw_ingress: Any) -> IngressSettings:
    """The ingress settings, or ConfigError with every problem of the serving path."""
    settings, problems = exposure.ingress_settings(raw_ingress)
    problems += exposure.problems(config, settings)
    problems += hostnames.config_problems(config)
    if problems:
        raise ConfigError(problems)
    return settings
