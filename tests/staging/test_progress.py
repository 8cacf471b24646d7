"""Progress output: plain lines when stderr is not a terminal, a rich bar when it is."""

from __future__ import annotations

import io

from rich.console import Console

from tools.in_cluster.stage_model.progress import PlainProgress, RichProgress, make_progress


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_progress_logs_each_file_and_a_final_line():
    out = io.StringIO()
    progress = PlainProgress(out, interval=3600)
    progress.start(3 * 1024 * 1024, 2)
    progress.advance(2 * 1024 * 1024)
    progress.file_done("m/a.safetensors", 2 * 1024 * 1024, uploaded=True)
    progress.file_done("m/config.json", 1024 * 1024, uploaded=False)
    progress.close()

    lines = out.getvalue().splitlines()
    assert lines[0] == "[stage_model] 2 files, 3.0 MiB"
    assert lines[1] == "[stage_model] 1/2 uploaded m/a.safetensors (2.0 MiB)"
    assert lines[2] == "[stage_model] 2/2 unchanged m/config.json (1.0 MiB)"
    assert lines[3].startswith("[stage_model] done: 2.0 MiB/2.0 MiB ")
    assert lines[3].endswith("ETA 0s")
    assert len(lines) == 4


def test_plain_progress_reports_throughput_at_most_every_interval():
    out = io.StringIO()
    progress = PlainProgress(out, interval=0)
    progress.start(10, 1)
    progress.advance(4)
    assert out.getvalue().splitlines()[-1].startswith("[stage_model] 4 B/10 B ")


def test_rich_progress_draws_bytes_rate_and_eta():
    terminal = FakeTerminal()
    console = Console(file=terminal, force_terminal=True, width=120)
    progress = RichProgress(console=console)
    progress.start(4 * 1024 * 1024, 2)
    progress.advance(1024 * 1024)
    progress.file_done("m/a", 1024 * 1024, uploaded=True)
    progress.file_done("m/b", 3 * 1024 * 1024, uploaded=False)
    progress.close()

    text = terminal.getvalue()
    assert "2/2 files" in text
    assert "1.0/1.0 MiB" in text  # the unchanged file left the total
    assert "unchanged m/b" in text


def test_rich_progress_shows_transfer_rate_and_time_remaining():
    """1 MiB per second of a 4 MiB total: after 2 MiB the bar reads 1.0 MB/s (rich prints
    decimal rates) and 2 s left; a clock the test moves makes both exact."""
    now = [0.0]
    terminal = FakeTerminal()
    console = Console(file=terminal, force_terminal=True, width=120)
    progress = RichProgress(console=console, clock=lambda: now[0])
    progress.start(4 * 1024 * 1024, 1)
    for second in (1.0, 2.0):
        now[0] = second
        progress.advance(1024 * 1024)
    progress.close()

    final = terminal.getvalue().rsplit("\r", 1)[-1]
    assert "2.0/4.0 MiB" in final
    assert "1.0 MB/s" in final
    assert "0:00:02" in final


def test_make_progress_picks_by_terminal():
    assert isinstance(make_progress(io.StringIO()), PlainProgress)
    assert isinstance(make_progress(FakeTerminal()), RichProgress)
