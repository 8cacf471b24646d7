"""The vendored charts and CRDs match their manifest, and nothing reads files beside the repo."""

from __future__ import annotations

import dataclasses
import functools
import http.server
import io
import shutil
import subprocess
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from components import versions
from tools.maintain import vendor
from tools.maintain.vendor import Entry, load_manifest, refresh_one, verify

ROOT = Path(__file__).resolve().parents[1]


def test_every_vendored_file_matches_the_manifest() -> None:
    assert verify(load_manifest()) == []


@pytest.fixture
def vendor_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "vendor"
    shutil.copytree(vendor.VENDOR_DIR, copy)
    return copy


def test_a_changed_missing_or_unlisted_file_is_named(vendor_copy: Path) -> None:
    entries = load_manifest()
    changed = vendor_copy / "crds" / "karpenter.sh_nodepools.yaml"
    changed.write_bytes(changed.read_bytes() + b"\n")
    (vendor_copy / "charts" / "fluid-1.0.8.tgz").unlink()
    (vendor_copy / "charts" / "extra-0.1.0.tgz").write_bytes(b"")
    problems = verify(entries, vendor_copy)
    assert len(problems) == 3
    assert problems[0].startswith("charts/fluid-1.0.8.tgz: missing; run `make vendor`")
    assert problems[1].startswith("crds/karpenter.sh_nodepools.yaml: sha256 ")
    assert problems[1].endswith(
        "differs from the manifest's "
        "3bb64a20c80776b77aa19a699ebdaf34480a7b2e7ec4ef890b43225b3517f878; "
        "the file changed or the manifest is stale"
    )
    assert problems[2] == (
        "charts/extra-0.1.0.tgz: not in vendor/manifest.json; add it with its sha256"
    )


def _pins() -> list[versions.ChartPin]:
    return [v for v in vars(versions).values() if isinstance(v, versions.ChartPin)]


def test_every_chart_pin_is_vendored_with_its_repository() -> None:
    pulls = {(e.pull or {}).get("chart"): e.pull for e in load_manifest() if e.pull}
    for pin in _pins():
        assert pulls.get(pin.chart) == {
            "repository": pin.repository,
            "chart": pin.chart,
            "version": pin.version,
        }, pin.chart


@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A local stand-in for the upstream file host, on 127.0.0.1."""
    served = tmp_path / "upstream"
    served.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", served
    server.shutdown()


def test_refresh_fetches_a_crd_only_when_its_sha256_matches(
    vendor_copy: Path, upstream: tuple[str, Path]
) -> None:
    url, served = upstream
    entry = next(e for e in load_manifest() if e.path == "crds/karpenter.sh_nodepools.yaml")
    good = (vendor_copy / entry.path).read_bytes()
    (vendor_copy / entry.path).unlink()
    (served / "nodepools.yaml").write_bytes(good)
    entry = dataclasses.replace(entry, source=f"{url}/nodepools.yaml")
    assert refresh_one(entry, vendor_copy) == "fetched, sha256 matches"
    assert (vendor_copy / entry.path).read_bytes() == good
    (served / "nodepools.yaml").write_bytes(good.replace(b"NodePool", b"NodeP00l", 1))
    with pytest.raises(RuntimeError, match=r"nodepools.yaml has sha256 [0-9a-f]{64}, not 3bb64a"):
        refresh_one(entry, vendor_copy)


def _archive(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_a_packaged_chart_is_compared_with_the_published_one_file_by_file() -> None:
    vendored = (vendor.CHART_DIR / "fluid-1.0.8.tgz").read_bytes()
    contents = vendor.archive_contents(vendored)
    assert "fluid/values.yaml" in contents and "fluid/Chart.yaml" not in contents
    with tarfile.open(fileobj=io.BytesIO(vendored), mode="r:gz") as archive:
        files = {
            m.name: archive.extractfile(m).read()  # type: ignore[union-attr]
            for m in archive.getmembers()
            if m.isfile()
        }
    reserialised = dict(files, **{"fluid/Chart.yaml": b"name: fluid\nversion: 1.0.8\n"})
    assert vendor.archive_contents(_archive(reserialised)) == contents
    edited = dict(files, **{"fluid/values.yaml": files["fluid/values.yaml"] + b"\n"})
    assert vendor.archive_contents(_archive(edited)) != contents


def test_no_tracked_file_reads_beside_the_repository() -> None:
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    offenders = []
    for name in filter(None, tracked):
        path = ROOT / name.decode()
        if path.suffix in (".tgz",) or not path.is_file():
            continue
        text = path.read_text(errors="replace")
        # Spelled in two parts so that this file does not name them itself.
        needles = ("../" + "shared", "shared/" + "charts", "shared/" + "schemas", "/" + "work/")
        for needle in needles:
            if needle in text:
                offenders.append(f"{name.decode()}: {needle}")
    assert offenders == []


def test_vendored_entries_name_source_version_and_sha256() -> None:
    for entry in load_manifest():
        assert isinstance(entry, Entry)
        assert entry.source.startswith("https://"), entry.path
        assert entry.version and len(entry.sha256) == 64, entry.path
