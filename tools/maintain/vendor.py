"""The chart archives and CRD schemas the tests read, kept in vendor/ with a manifest.

    python -m tools.maintain.vendor            # verify every file against vendor/manifest.json
    python -m tools.maintain.vendor --refresh  # online: fetch each from upstream, then verify

vendor/manifest.json lists each file with its upstream source, version and sha256. The CRDs are
byte-for-byte upstream files (fetched from `source`, a raw file at a commit). The charts are
fetched with `helm pull` from the repository of their pin in components/versions.py: an entry
with `identicalToPull` must match the pulled archive byte for byte; the others were packaged
from the upstream tag (vendor/charts/SOURCES.md says how), so their bytes differ from the
published archive, and the refresh checks instead that every file but Chart.yaml (which
`helm package` re-serialises) is identical to the published one.

Standard library only: `make vendor` runs it with the system Python, before any virtualenv.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENDOR_DIR = ROOT / "vendor"
MANIFEST = VENDOR_DIR / "manifest.json"
CHART_DIR = VENDOR_DIR / "charts"
CRD_DIR = VENDOR_DIR / "crds"
VENDORED_SUFFIXES = (".tgz", ".yaml")
DOWNLOAD_TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class Entry:
    """One vendored file as the manifest describes it."""

    path: str
    name: str
    version: str
    source: str
    sha256: str
    pull: dict[str, str] | None = None
    identical_to_pull: bool = False

    @property
    def file(self) -> Path:
        return VENDOR_DIR / self.path


def load_manifest(manifest: Path = MANIFEST) -> list[Entry]:
    document = json.loads(manifest.read_text())
    return [
        Entry(
            path=item["path"],
            name=item["name"],
            version=item["version"],
            source=item["source"],
            sha256=item["sha256"],
            pull=item.get("pull"),
            identical_to_pull=item.get("identicalToPull", False),
        )
        for item in document["files"]
    ]


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def verify(entries: list[Entry], vendor_dir: Path = VENDOR_DIR) -> list[str]:
    """Every listed file present with its sha256, and no vendored file the manifest lacks."""
    problems: list[str] = []
    listed = set()
    for entry in entries:
        listed.add(entry.path)
        path = vendor_dir / entry.path
        if not path.is_file():
            problems.append(f"{entry.path}: missing; run `make vendor` (online) to fetch it")
            continue
        actual = sha256_of(path.read_bytes())
        if actual != entry.sha256:
            problems.append(
                f"{entry.path}: sha256 {actual} differs from the manifest's {entry.sha256}; "
                "the file changed or the manifest is stale"
            )
    for path in sorted(vendor_dir.rglob("*")):
        relative = path.relative_to(vendor_dir).as_posix()
        if path.suffix in VENDORED_SUFFIXES and relative not in listed:
            problems.append(f"{relative}: not in vendor/manifest.json; add it with its sha256")
    return problems


def _download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_SECONDS) as response:
        data: bytes = response.read()
        return data


def _helm_pull(pull: dict[str, str], into: Path) -> bytes:
    """`helm pull` of a pinned chart; an oci:// repository is pulled by reference."""
    helm = shutil.which("helm")
    if helm is None:
        raise RuntimeError("helm is not installed (https://helm.sh/docs/intro/install/)")
    repository, chart, version = pull["repository"], pull["chart"], pull["version"]
    if repository.startswith("oci://"):
        command = [helm, "pull", f"{repository}/{chart}", "--version", version]
    else:
        command = [helm, "pull", chart, "--repo", repository, "--version", version]
    subprocess.run([*command, "--destination", str(into)], check=True, capture_output=True)
    archives = list(into.glob("*.tgz"))
    if len(archives) != 1:
        raise RuntimeError(f"helm pull wrote {len(archives)} archives")
    return archives[0].read_bytes()


def archive_contents(data: bytes) -> dict[str, str]:
    """sha256 of every file of a chart archive except Chart.yaml, which `helm package`
    re-serialises (the only file a packaged-from-tag archive may differ in)."""
    contents: dict[str, str] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        for member in archive.getmembers():
            if not member.isfile() or member.name.split("/", 1)[-1] == "Chart.yaml":
                continue
            handle = archive.extractfile(member)
            if handle is not None:
                contents[member.name] = sha256_of(handle.read())
    return contents


def refresh_one(entry: Entry, vendor_dir: Path = VENDOR_DIR) -> str:
    """Fetch one entry from upstream; write it when its bytes are what the manifest says."""
    target = vendor_dir / entry.path
    if entry.pull is None:
        data = _download(entry.source)
        if sha256_of(data) != entry.sha256:
            raise RuntimeError(f"{entry.source} has sha256 {sha256_of(data)}, not {entry.sha256}")
        target.write_bytes(data)
        return "fetched, sha256 matches"
    with tempfile.TemporaryDirectory() as scratch:
        data = _helm_pull(entry.pull, Path(scratch))
    if entry.identical_to_pull:
        if sha256_of(data) != entry.sha256:
            raise RuntimeError(f"helm pull gave sha256 {sha256_of(data)}, not {entry.sha256}")
        target.write_bytes(data)
        return "helm pull, sha256 matches"
    published, vendored = archive_contents(data), archive_contents(target.read_bytes())
    if published != vendored:
        differing = sorted(set(published.items()) ^ set(vendored.items()))
        raise RuntimeError(
            f"the published chart differs from the vendored one in {differing[0][0]} "
            f"(and {len(differing) - 1} more); rebuild it as vendor/charts/SOURCES.md says"
        )
    return "helm pull: same files as the vendored archive (Chart.yaml aside)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--refresh", action="store_true", help="fetch every file from upstream first (online)"
    )
    args = parser.parse_args(argv)
    entries = load_manifest()
    failed = 0
    if args.refresh:
        for entry in entries:
            try:
                print(f"vendor: {entry.path}: {refresh_one(entry)}", flush=True)
            except (OSError, RuntimeError, subprocess.CalledProcessError) as error:
                failed += 1
                print(f"vendor: {entry.path}: could not refresh: {error}", file=sys.stderr)
    problems = verify(entries)
    for line in problems:
        print(f"vendor: {line}", file=sys.stderr)
    if problems or failed:
        return 1
    print(f"vendor: {len(entries)} files match vendor/manifest.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
