"""The names KServe and Knative derive from an InferenceService's name, without a StackConfig.

The stack's configuration checks them (components/config/model.py refuses a model whose
Knative Service or host would be too long); components/hostnames.py derives the hosts the stack
answers on from them. The upstream rules are cited there.
"""

from __future__ import annotations

from typing import Protocol


class _Named(Protocol):
    name: str
    loader: str


PREDICTOR = "predictor"
MAX_LABEL = 63
"""A Kubernetes Service name is a DNS-1035 label (the Knative Service `<isvc>-predictor`)."""
MAX_HOST = 253


def predictor_service_name(isvc: str) -> str:
    """kserve `constants.PredictorServiceName(name)`: the Knative Service of the predictor."""
    return f"{isvc}-{PREDICTOR}"


def knative_host(service: str, namespace: str, domain: str) -> str:
    """Knative's default domain template `{{.Name}}.{{.Namespace}}.{{.Domain}}`."""
    return f"{service}.{namespace}.{domain}"


def isvc_name(model: _Named, loader: str) -> str:
    """A model's InferenceService for `loader`: its own loader serves under the model's name, a
    comparison (`compareLoaders`) as `<name>-<loader>`."""
    return model.name if loader == model.loader else f"{model.name}-{loader}"


def name_problems(key: str, model_name: str, isvc: str, namespace: str, domain: str) -> list[str]:
    """Why KServe/Knative could not serve the InferenceService `isvc` of a model, one line each."""
    problems: list[str] = []
    service = predictor_service_name(isvc)
    if len(service) > MAX_LABEL:
        room = MAX_LABEL - (len(service) - len(model_name))
        problems.append(
            f'{key}: "{model_name}" is too long: KServe names the Knative Service "{service}" '
            f"({len(service)} characters) and a Kubernetes name has at most {MAX_LABEL}; "
            f"use at most {room} characters"
        )
    host = knative_host(service, namespace, domain)
    if len(host) > MAX_HOST:
        problems.append(f'{key}: the host "{host}" has {len(host)} characters, at most {MAX_HOST}')
    return problems
