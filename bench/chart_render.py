"""Benchmark: what the chart tests render, and what it costs.

    python bench/chart_render.py

Renders the offline plan of dev, prod and the Kourier variant (one subprocess each, as the
tests do), then, as tests/test_charts.py does, every Helm release from its real chart archive:
prints per stack and release the objects it installs (crds/ + templates), the values keys it
sets, the renders the ignored-key search needs and the seconds spent, and the totals. The
session render cache is shared across stacks exactly as in the tests (one process), so a
release with the same values in two stacks is rendered once.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.charts import (  # noqa: E402 - needs ROOT on sys.path when run as a script
    crds_folder_objects,
    helm_releases,
    ignored_keys,
    render_count,
    template_objects,
    value_leaves,
)
from tests.plan_support import render  # noqa: E402

SCENARIOS = {"dev": {"stack": "dev"}, "prod": {"stack": "prod"},
             "kourier": {"stack": "dev", "sets": {"networking": "kourier"}}}  # fmt: skip


def main() -> int:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        plans = {}
        for label, kwargs in SCENARIOS.items():
            plans[label] = render(Path(scratch) / label, **kwargs)  # type: ignore[arg-type]
        planned = time.perf_counter()
        print(f"3 offline plans: {planned - started:.1f} s")
        print(f"{'stack':8} {'release':24} {'crds/':>6} {'templates':>9} {'keys':>5} "
              f"{'renders':>7} {'seconds':>7}")  # fmt: skip
        total_objects = 0
        for label, plan in plans.items():
            for release in helm_releases(plan, label):
                before, clock = render_count(), time.perf_counter()
                crds = len(crds_folder_objects(release))
                templates = len(template_objects(release))
                problems = ignored_keys(release)
                seconds = time.perf_counter() - clock
                keys = len(list(value_leaves(release.values)))
                total_objects += crds + templates
                print(f"{label:8} {release.name:24} {crds:6d} {templates:9d} {keys:5d} "
                      f"{render_count() - before:7d} {seconds:7.2f}")  # fmt: skip
                for problem in problems:
                    print(f"  IGNORED: {problem}")
    finished = time.perf_counter()
    print(
        f"total: {total_objects} objects, {render_count()} distinct renders, "
        f"{finished - planned:.1f} s rendering and searching, {finished - started:.1f} s in all"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
