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
the bound components/config/model.py already validates against every model's expected cold start
(`knative.progressDeadlineSeconds` below it is refused), so the timeout always covers it: a
request waits as long as Knative lets the pod become ready, plus the time a running model gets to
answer. The ingress NLB's 350 s idle timeout is the remaining limit on the client's side: clients
must send TCP keepalives (curl does; tools/operate/ingress_http.py for the Python tools).
"""

from __future__ import annotations

from components.config.model import StackConfig

ANSWER_SECONDS = 300
"""Knative's default per-request timeout: what a running model gets to answer one request."""


def request_timeout_seconds(config: StackConfig) -> int:
    """The predictor `timeout` and Knative's `max-revision-timeout-seconds`."""
    return config.knative.progress_deadline_seconds + ANSWER_SECONDS
