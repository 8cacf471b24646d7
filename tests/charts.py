"""Render the real chart archive of every Helm release in a plan, offline, with a real Helm engine.

helm-python-sdk 0.2.2 is Helm v4's `action.Install` renderer as a library: templates, subcharts
and `values.schema.json` exactly as `helm install` would use them, no cluster and no network
(`lookup` returns nothing). The archives are the pinned versions of `components/versions.py`,
kept in `vendor/charts/` (vendor/manifest.json and SOURCES.md there say where each comes from).

Releases map to archives generically: a release's chart, version and repository name a pin in
`components/versions.py`, and a pin names its archive `<chart>-<version>.tgz` (with or without
a leading `v`, as `helm package` names files after Chart.yaml). A release added later is
rendered without touching this file.

Renders are cached per (archive, values, name, namespace) for the test session: the three
stacks share most releases' values, and the ignored-key search renders each release once per
values key it sets.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
import pickle
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml

from components import versions
from components.versions import ChartPin
from tools.maintain.vendor import CHART_DIR

RELEASE_TYPES = ("kubernetes:helm.sh/v3:Release", "kubernetes:helm.sh/v4:Chart")
# Helm splits a rendered template on this separator (helm/helm
# pkg/releaseutil/manifest.go@v3.17.0 `sep`, vendor/charts/SOURCES.md); cert-manager's templates
# have `---# comment` lines that a plain YAML stream refuses.
_DOCUMENT_SEPARATOR = re.compile(r"(?:^|\s*\n)---\s*")
# A values key whose leaves exceed this would make the ignored-key search slow: fail loudly.
MAX_LEAVES_PER_RELEASE = 150


class MissingChartArchive(LookupError):
    """A pin in components/versions.py with no archive in vendor/charts/."""


@dataclass(frozen=True)
class HelmRelease:
    """One Helm release of a plan, resolved to the archive of its pinned chart."""

    stack: str
    name: str
    namespace: str
    values: dict[str, Any]
    pin: ChartPin
    archive: Path
    skip_crds: bool = False
    """`skipCrds`: Helm leaves the chart's crds/ folder alone (another release owns them)."""

    @property
    def label(self) -> str:
        return f"{self.stack}: release {self.name} (chart {self.pin.chart} {self.pin.version})"


def chart_pins() -> list[ChartPin]:
    """Every ChartPin in components/versions.py, once each, in definition order."""
    found: dict[tuple[str, str, str], ChartPin] = {}
    for value in vars(versions).values():
        if isinstance(value, ChartPin):
            found.setdefault((value.chart, value.version, value.repository), value)
    return list(found.values())


def archive_file_names(pin: ChartPin) -> list[str]:
    names = [f"{pin.chart}-{pin.version}.tgz"]
    if pin.version.startswith("v"):
        names.append(f"{pin.chart}-{pin.version[1:]}.tgz")
    return names


def archive_for(pin: ChartPin, chart_dir: Path = CHART_DIR) -> Path:
    for name in archive_file_names(pin):
        if (chart_dir / name).is_file():
            return chart_dir / name
    expected = " or ".join(str(chart_dir / n) for n in archive_file_names(pin))
    raise MissingChartArchive(
        f"components/versions.py pins chart {pin.chart!r} {pin.version} but there is no "
        f"archive {expected}; add the packaged chart (see {chart_dir / 'SOURCES.md'})"
    )


def release_chart(inputs: dict[str, Any]) -> tuple[str, str, str]:
    """(chart, version, repository) of a Release/Chart registration's inputs."""
    chart = str(inputs["chart"])
    if chart.startswith("oci://"):
        repository, _, name = chart.rpartition("/")
    else:
        repository, name = inputs.get("repositoryOpts", {}).get("repo", ""), chart
    return name, str(inputs.get("version", "")), repository


def pin_for(inputs: dict[str, Any]) -> ChartPin:
    chart, version, repository = release_chart(inputs)
    for pin in chart_pins():
        if (pin.chart, pin.version, pin.repository) == (chart, version, repository):
            return pin
    raise LookupError(
        f"release {inputs.get('name')!r} installs {chart} {version} from {repository!r}, "
        "which no ChartPin in components/versions.py names"
    )


def helm_releases(plan: Any, stack: str) -> list[HelmRelease]:
    """Every Helm release the plan registers, with its archive (MissingChartArchive if none)."""
    releases = []
    for resource in plan.resources:
        if resource["type"] not in RELEASE_TYPES:
            continue
        inputs = resource["inputs"]
        pin = pin_for(inputs)
        releases.append(
            HelmRelease(
                stack=stack,
                name=str(inputs.get("name", resource["name"])),
                namespace=str(inputs.get("namespace", "default")),
                values=copy.deepcopy(inputs.get("values") or {}),
                pin=pin,
                archive=archive_for(pin),
                skip_crds=bool(inputs.get("skipCrds", False)),
            )
        )
    return releases


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rendered:
    """Templates' output ({template path: YAML}, NOTES.txt left out) and the crds/ files Helm
    would install with them, or the engine's error."""

    manifests: tuple[tuple[str, str], ...]
    crds: tuple[str, ...] = ()
    error: str = ""


SHARED_RENDERS: Path | None = None
"""Where pytest-xdist workers share renders (tests/conftest.py sets it): the stacks' releases
share most values, and their ignored-key searches run on whichever worker is free."""


@functools.cache
def _render(archive: str, values_json: str, name: str, namespace: str) -> Rendered:
    if SHARED_RENDERS is None:
        return _render_now(archive, values_json, name, namespace)
    stat = Path(archive).stat()
    key = json.dumps([archive, stat.st_size, stat.st_mtime_ns, values_json, name, namespace])
    entry = SHARED_RENDERS / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.pickle"
    if entry.exists():
        cached: Rendered = pickle.loads(entry.read_bytes())
        return cached
    rendered = _render_now(archive, values_json, name, namespace)
    SHARED_RENDERS.mkdir(parents=True, exist_ok=True)
    partial = entry.with_suffix(f".{os.getpid()}.partial")
    partial.write_bytes(pickle.dumps(rendered))
    partial.replace(entry)  # atomic: a reader sees a whole render or none
    return rendered


def _render_now(archive: str, values_json: str, name: str, namespace: str) -> Rendered:
    # A fresh Chart per render: render() drops subcharts disabled by their condition from the
    # loaded object for good (vendor/charts/SOURCES.md).
    chart = helm.Chart.load(archive)
    try:
        output = chart.render(
            json.loads(values_json), name=name, namespace=namespace, is_install=True
        )
        # Read after rendering: a subchart its condition turned off is gone from the chart by
        # then, and Helm installs crds/ only of the subcharts it keeps (helm/helm
        # pkg/action/install.go@v3.17.0: ProcessDependencies before CRDObjects).
        crds = tuple(crd["data"] for crd in chart.crds)
    except helm.HelmError as error:
        return Rendered((), (), f"{type(error).__name__}: {error}")
    finally:
        chart.close()
    manifests = tuple(sorted((k, v) for k, v in output.items() if not k.endswith("/NOTES.txt")))
    return Rendered(manifests, crds)


def render(archive: Path, values: dict[str, Any], name: str, namespace: str) -> Rendered:
    return _render(str(archive), json.dumps(values, sort_keys=True), name, namespace)


def render_count() -> int:
    """Distinct renders done in this process (the cache's size)."""
    return _render.cache_info().currsize


def render_release(release: HelmRelease, values: dict[str, Any] | None = None) -> Rendered:
    chosen = release.values if values is None else values
    return render(release.archive, chosen, release.name, release.namespace)


@functools.cache
def _parse(text: str) -> tuple[dict[str, Any], ...]:
    documents = []
    for part in _DOCUMENT_SEPARATOR.split(text):
        # libyaml's parser: the CRDs are megabytes, ten times slower in pure Python.
        document = yaml.load(part, Loader=yaml.CSafeLoader)
        if isinstance(document, dict):
            documents.append(document)
    return tuple(documents)


def split_documents(text: str) -> list[dict[str, Any]]:
    """The objects of one rendered template, parsed once per session: treat them as read-only."""
    return list(_parse(text))


def crds_folder_objects(release: HelmRelease) -> list[dict[str, Any]]:
    """The chart's `crds/` files: Helm installs them before the templates, unrendered, unless
    the release sets skipCrds."""
    if release.skip_crds:
        return []
    rendered = render_release(release)
    assert not rendered.error, f"{release.label} does not render: {rendered.error}"
    return [d for text in rendered.crds for d in split_documents(text)]


def template_objects(release: HelmRelease) -> list[dict[str, Any]]:
    rendered = render_release(release)
    assert not rendered.error, f"{release.label} does not render: {rendered.error}"
    return [d for _, text in rendered.manifests for d in split_documents(text)]


def installed_objects(release: HelmRelease) -> list[dict[str, Any]]:
    """Everything `helm install` would create: crds/ first, then the rendered templates."""
    return crds_folder_objects(release) + template_objects(release)


def find(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [
        o
        for o in objects
        if o.get("kind") == kind and (name is None or o["metadata"].get("name") == name)
    ]


# --------------------------------------------------------------------------------------------
# Values keys the chart ignores
# --------------------------------------------------------------------------------------------

KeyPath = tuple[str, ...]


def value_leaves(values: Any, path: KeyPath = ()) -> Iterator[tuple[KeyPath, Any]]:
    """(key path, value) of every leaf; lists and empty maps are leaves (Helm replaces them)."""
    if isinstance(values, dict) and values:
        for key, value in values.items():
            yield from value_leaves(value, (*path, str(key)))
    elif path:
        yield path, values


def _changed(value: Any) -> list[Any]:
    """Values to try instead of `value`, first the one most likely to pass a schema."""
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, int | float):
        return [value + 1, 0 if value else 1]
    if isinstance(value, str):
        return [f"{value}x", "", "changed"]
    if isinstance(value, list):
        return [[], [*value, *value[-1:]]] if value else [["changed"]]
    if isinstance(value, dict):
        return [{"changed": "x"}]
    return ["changed"]


def _replaced(values: dict[str, Any], path: KeyPath, new: Any) -> dict[str, Any]:
    result = copy.deepcopy(values)
    node = result
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = new
    return result


def _removed(values: dict[str, Any], path: KeyPath) -> dict[str, Any]:
    result = copy.deepcopy(values)
    node = result
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return result


def _is_schema_refusal(rendered: Rendered) -> bool:
    return rendered.error.startswith("HelmValuesError")


def ignored_keys(release: HelmRelease) -> list[str]:
    """Values keys the program sets that change nothing the chart renders.

    A key is ignored when rendering with its value changed and with it removed both leave every
    template's output as it is. One render per key when the chart uses it (the changed value
    differs), two when it is ignored; a changed value that values.schema.json refuses is
    skipped for the next candidate.
    """
    leaves = list(value_leaves(release.values))
    assert len(leaves) <= MAX_LEAVES_PER_RELEASE, (
        f"{release.label} sets {len(leaves)} values keys; the ignored-key search is bounded at "
        f"{MAX_LEAVES_PER_RELEASE} (raise MAX_LEAVES_PER_RELEASE if that is intended)"
    )
    baseline = render_release(release)
    assert not baseline.error, f"{release.label} does not render: {baseline.error}"
    problems = []
    for path, value in leaves:
        if _used(release, baseline, path, value):
            continue
        problems.append(
            f"{release.label}: values key {'.'.join(path)} (= {json.dumps(value)}) is ignored "
            "by the chart: changing or removing it renders the same objects"
        )
    return problems


def _used(release: HelmRelease, baseline: Rendered, path: KeyPath, value: Any) -> bool:
    for candidate in _changed(value):
        rendered = render_release(release, _replaced(release.values, path, candidate))
        if _is_schema_refusal(rendered):
            continue
        if rendered != baseline:
            return True
        break
    return render_release(release, _removed(release.values, path)) != baseline
