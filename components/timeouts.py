"""How long a request may wait for a model that is starting from zero.

Knative's activator holds a request for a scaled-to-zero revision for at most the revision's
`timeoutSeconds` (knative/serving:cmd/activator/main.go@knative-v1.22.1, `NewTimeoutHandler` with
`rev.Spec.TimeoutSeconds`), 300 s unless set (config/core/configmaps/defaults.yaml
`revision-timeout-seconds`), and refuses any revision timeout above `max-revision-timeout-seconds`
(600 s by default; pkg/apis/serving/v1/revision_validation.go `validateTimeoutSeconds`). The seed's
baseline needed 265 s on a warm node, so a cold node cuts it off.

KServe copies the predictor's `timeout` into the revision's `timeoutSeconds` and
`responseStartTimeoutSeconds` (kserve/kserve:pkg/controller/v1beta1/inferenceservice/reconcilers/
knative/ksvc_reconciler.go@v0.20.0). Both figures derive from `knative.progressDeadlineSeconds`,
the bound already validated against every model's expected cold start: a request waits as long as
Knative lets the pod become ready, plus the time a running model gets to answer.
"""

from __future__ import annotations

from components.config import StackConfig

ANSWER_SECONDS = 300
"""Knative's default per-request timeout: what a running model gets to answer one request."""


def request_timeout_seconds(config: StackConfig) -> int:
    """The predictor `timeout` and Knative's `max-revision-timeout-seconds`."""
    return config.knative.progress_deadline_seconds + ANSWER_SECONDS


def problems(config: StackConfig) -> list[str]:
    """One line per model whose expected cold start the request timeout would cut off."""
    timeout = request_timeout_seconds(config)
    return [
        f"knative.progressDeadlineSeconds: a request times out after {timeout} s, before the "
        f'expected cold start of model "{model.name}" ({model.expected_cold_start_seconds} s) '
        f"plus {ANSWER_SECONDS} s to answer; raise it to at least "
        f"{model.expected_cold_start_seconds}"
        for model in config.models
        if timeout < model.expected_cold_start_seconds + ANSWER_SECONDS
    ]
