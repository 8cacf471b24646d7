"""pip's configured package sources as uv settings, for the one package uv.lock cannot hold.

    python3 -m tools.maintain.pip_sources     # prints e.g. UV_FIND_LINKS=/wheels UV_INDEX=...

uv installs the locked packages from the URLs uv.lock records (PyPI), but `make test` also
installs PyTorch's CPU build (requirements-torch.txt) with `uv pip install`, which consults
indexes. A machine may configure pip with a local index or wheel folder (`pip config list`:
index-url, extra-index-url, find-links, from pip.conf files or PIP_* variables); this turns them
into the variables uv reads (UV_DEFAULT_INDEX, UV_INDEX, UV_FIND_LINKS), so uv finds packages
where pip would, without the repository naming any machine's paths. Variables already set in the
environment win. Standard library only: it runs before any virtualenv exists.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Mapping

# pip config key (last part) -> (uv variable, separator uv splits it on)
_UV_SETTINGS = {
    "index-url": ("UV_DEFAULT_INDEX", " "),
    "extra-index-url": ("UV_INDEX", " "),
    "find-links": ("UV_FIND_LINKS", ","),
}
_LINE = re.compile(r"^(?P<scope>[^.]*)\.(?P<key>[\w-]+)='(?P<value>.*)'$")


def pip_settings(listing: str) -> dict[str, list[str]]:
    """index-url, extra-index-url and find-links values from `pip config list` output."""
    found: dict[str, list[str]] = {}
    for line in listing.splitlines():
        match = _LINE.match(line.strip())
        if match and match["key"] in _UV_SETTINGS:
            for value in match["value"].split():
                values = found.setdefault(match["key"], [])
                if value not in values:
                    values.append(value)
    return found


def uv_environment(settings: Mapping[str, list[str]], environ: Mapping[str, str]) -> list[str]:
    """`NAME=value` words for the uv variables the environment does not already set."""
    words = []
    for key, (name, separator) in _UV_SETTINGS.items():
        if settings.get(key) and name not in environ:
            words.append(f"{name}={separator.join(settings[key])}")
    return words


def main() -> int:
    try:
        listing = subprocess.run(
            [sys.executable, "-m", "pip", "config", "list"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        ).stdout
    except OSError:
        listing = ""
    print(" ".join(shlex.quote(w) for w in uv_environment(pip_settings(listing), os.environ)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
