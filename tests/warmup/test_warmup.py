"""Tests for tools/in_cluster/warmup.py on real files (no mocks of the read path)."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tools.in_cluster import warmup

WARMUP = Path(__file__).resolve().parents[2] / "tools" / "in_cluster" / "warmup.py"
MIB = 1024 * 1024


def _write(path: Path, size: int, seed: int = 0) -> None:
    rnd = random.Random(seed)
    block = rnd.randbytes(min(size, 1 << 16) or 1)
    with path.open("wb") as f:
        left = size
        while left > 0:
            chunk = block[: min(left, len(block))]
            f.write(chunk)
            left -= len(chunk)


def _run(args: list[str], env: dict[str, str] | None = None, timeout: float = 60):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("WARMUP_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, str(WARMUP), *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    d = tmp_path / "model"
    (d / "sub").mkdir(parents=True)
    _write(d / "model-00001-of-00002.safetensors", 5 * MIB + 123, seed=1)
    _write(d / "model-00002-of-00002.safetensors", 3 * MIB, seed=2)
    _write(d / "sub" / "tokenizer.json", 4097, seed=3)
    (d / "config.json").write_text('{"a": 1}')
    (d / "empty.txt").write_bytes(b"")
    return d


def _total(d: Path) -> int:
    return sum(p.stat().st_size for p in d.rglob("*") if p.is_file() and not p.is_symlink())


# --------------------------------------------------------------------------- sizes / env


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("4096", 4096),
        ("4M", 4 * MIB),
        ("16MiB", 16 * MIB),
        ("16mib", 16 * MIB),
        ("1g", 1024 * MIB),
        ("4k", 4096),
        ("2MB", 2_000_000),
        ("10b", 10),
        (" 8 M ", 8 * MIB),
    ],
)
def test_parse_size(text: str, value: int) -> None:
    assert warmup.parse_size(text) == value


@pytest.mark.parametrize("text", ["", "abc", "4X", "-1", "1.5M", "4iB", "M"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        warmup.parse_size(text)


def test_settings_defaults() -> None:
    s = warmup.settings_from_env({})
    assert s.dir == "/mnt/models"
    assert s.block_size == 4 * MIB
    assert s.concurrency == 32
    assert s.range_size == 256 * MIB
    # Fail open with a size-derived limit: a FUSE error or a hung read must not keep the
    # predictor from starting (it then reads the weights itself).
    assert s.fail_open is True
    assert s.timeout is None
    assert warmup.settings_from_env({"WARMUP_TIMEOUT": "auto"}).timeout is None
    assert warmup.settings_from_env({"WARMUP_TIMEOUT": "0"}).timeout == 0.0
    assert s.exec_argv == ()


@pytest.mark.parametrize(
    ("var", "value", "line"),
    [
        (
            "WARMUP_CONCURRENCY",
            "abc",
            "warmup level=error event=bad_env var=WARMUP_CONCURRENCY value=abc "
            'allowed="an integer from 1 to 1024"',
        ),
        (
            "WARMUP_CONCURRENCY",
            "0",
            "warmup level=error event=bad_env var=WARMUP_CONCURRENCY value=0 "
            'allowed="an integer from 1 to 1024"',
        ),
        (
            "WARMUP_FAIL_OPEN",
            "maybe",
            "warmup level=error event=bad_env var=WARMUP_FAIL_OPEN value=maybe "
            'allowed="true/false, 1/0, yes/no, on/off"',
        ),
        (
            "WARMUP_BLOCK_SIZE",
            "4X",
            "warmup level=error event=bad_env var=WARMUP_BLOCK_SIZE value=4X "
            'allowed="a whole number of bytes, optionally with a suffix K, M, G, T or '
            "KiB, MiB, GiB, TiB (powers of 1024) or KB, MB, GB, TB (powers of 1000), "
            'e.g. 4M, 16MiB; at least 4096 and at most 1073741824 bytes"',
        ),
        (
            "WARMUP_BLOCK_SIZE",
            "2G",
            "warmup level=error event=bad_env var=WARMUP_BLOCK_SIZE value=2G "
            'allowed="a whole number of bytes, optionally with a suffix K, M, G, T or '
            "KiB, MiB, GiB, TiB (powers of 1024) or KB, MB, GB, TB (powers of 1000), "
            'e.g. 4M, 16MiB; at least 4096 and at most 1073741824 bytes"',
        ),
        (
            "WARMUP_RANGE_SIZE",
            "lots",
            "warmup level=error event=bad_env var=WARMUP_RANGE_SIZE value=lots "
            'allowed="a whole number of bytes, optionally with a suffix K, M, G, T or '
            "KiB, MiB, GiB, TiB (powers of 1024) or KB, MB, GB, TB (powers of 1000), "
            'e.g. 4M, 16MiB; at least 0"',
        ),
        (
            "WARMUP_TIMEOUT",
            "-5",
            "warmup level=error event=bad_env var=WARMUP_TIMEOUT value=-5 "
            'allowed="auto, or a number of seconds >= 0 (0 = no limit)"',
        ),
        (
            "WARMUP_TIMEOUT",
            "soon",
            "warmup level=error event=bad_env var=WARMUP_TIMEOUT value=soon "
            'allowed="auto, or a number of seconds >= 0 (0 = no limit)"',
        ),
        (
            "WARMUP_LOG_LEVEL",
            "trace",
            "warmup level=error event=bad_env var=WARMUP_LOG_LEVEL value=trace "
            'allowed="info, debug"',
        ),
    ],
)
def test_bad_env_exits_2_with_exact_message(
    model_dir: Path, var: str, value: str, line: str
) -> None:
    # a server command is given: a bad value must still stop before exec, even fail-open
    proc = _run(
        ["--", sys.executable, "-c", "print('server started')"],
        {"WARMUP_DIR": str(model_dir), "WARMUP_FAIL_OPEN": "true", var: value},
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stdout.strip() == line
    assert "server started" not in proc.stdout


def test_usage_error_exits_2() -> None:
    proc = _run(["python3", "-m", "huggingfaceserver"])
    assert proc.returncode == 2
    assert proc.stdout.strip() == (
        "warmup level=error event=usage error=\"unexpected argument 'python3': the server "
        'command must follow \'--\'" usage="warmup.py [-h] [-- SERVER_COMMAND [ARG ...]]"'
    )


def test_help() -> None:
    proc = _run(["--help"])
    assert proc.returncode == 0
    assert "WARMUP_BLOCK_SIZE" in proc.stdout
    assert "python3 /warmup/warmup.py" in proc.stdout


# --------------------------------------------------------------------------- planning


def _check_cover(files: list[tuple[str, int]], range_size: int) -> None:
    ranges = warmup.plan_ranges(files, range_size)
    by_path: dict[str, list[warmup.Range]] = {}
    for r in ranges:
        assert r.length > 0
        by_path.setdefault(r.path, []).append(r)
    for path, size in files:
        got = sorted(by_path.pop(path, []), key=lambda r: r.offset)
        pos = 0
        for r in got:
            assert r.offset == pos, (path, size, range_size, got)
            if range_size:
                assert r.length <= range_size
            pos += r.length
        assert pos == size, (path, size, range_size)
        if size == 0:
            assert got == []
    assert by_path == {}


def test_plan_ranges_covers_every_byte_once() -> None:
    rnd = random.Random(1234)
    block = 4096
    edge_sizes = [0, 1, block - 1, block, block + 1, 3 * block, 10 * MIB + 17]
    for range_size in [0, 7, block, 3 * block + 5, MIB, 256 * MIB]:
        # 7-byte ranges over the 10 MiB file would be 1.5 million ranges: seconds, no new case.
        sizes = edge_sizes if range_size == 0 or range_size >= block else edge_sizes[:-1]
        _check_cover([(f"f{i}", s) for i, s in enumerate(sizes)], range_size)
    _check_cover([("a", 0), ("b", 1), ("c", 2), ("d", 1000)], 1)
    for _ in range(300):
        range_size = rnd.choice([0, rnd.randint(1, 64), rnd.randint(1, 2 * MIB)])
        cap = 5 * MIB if range_size == 0 else min(5 * MIB, range_size * 200)
        n = rnd.randint(0, 8)
        files = [(f"/m/f{i}", rnd.choice([0, rnd.randint(1, cap)])) for i in range(n)]
        _check_cover(files, range_size)


def test_plan_ranges_interleaves_files() -> None:
    ranges = warmup.plan_ranges([("a", 30), ("b", 20), ("c", 0)], 10)
    assert [(r.path, r.offset) for r in ranges] == [
        ("a", 0),
        ("b", 0),
        ("a", 10),
        ("b", 10),
        ("a", 20),
    ]


def test_plan_ranges_whole_file_when_zero() -> None:
    assert warmup.plan_ranges([("a", 5)], 0) == [warmup.Range("a", 0, 5)]


# --------------------------------------------------------------------------- reading


@pytest.mark.parametrize(
    ("block_size", "concurrency", "range_size"),
    [(4096, 1, 0), (4096, 3, 1 * MIB + 1), (MIB, 8, 2 * MIB), (16 * MIB, 32, 256 * MIB)],
)
def test_warm_reads_every_byte(
    model_dir: Path, block_size: int, concurrency: int, range_size: int
) -> None:
    result = warmup.warm(str(model_dir), block_size, concurrency, range_size)
    assert result.bytes == _total(model_dir)
    assert result.files == 5
    assert result.seconds > 0
    assert result.errors == ()


def test_warm_symlinks_read_once(model_dir: Path) -> None:
    os.symlink("model-00002-of-00002.safetensors", model_dir / "alias.safetensors")
    os.symlink(".", model_dir / "sub" / "self")  # directory cycle
    result = warmup.warm(str(model_dir), 4096, 4, MIB)
    assert result.bytes == _total(model_dir)
    assert result.files == 5


def test_warm_skips_fifo(model_dir: Path) -> None:
    os.mkfifo(model_dir / "pipe")  # opening it would block forever
    result = warmup.warm(str(model_dir), 4096, 2, MIB)
    assert result.bytes == _total(model_dir)


def test_empty_dir_exits_0(tmp_path: Path) -> None:
    proc = _run([], {"WARMUP_DIR": str(tmp_path)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == f"warmup level=info event=empty dir={tmp_path} files=0 bytes=0"


def test_dangling_symlink_fails_naming_file(model_dir: Path) -> None:
    bad = model_dir / "model-00003-of-00003.safetensors"
    os.symlink(model_dir / "gone" / "blob", bad)
    proc = _run([], {"WARMUP_DIR": str(model_dir), "WARMUP_FAIL_OPEN": "false"})
    assert proc.returncode == 1, proc.stdout
    assert (
        f"warmup level=error event=read_error path={bad} "
        'error="cannot stat: No such file or directory"'
    ) in proc.stdout.splitlines()
    failed = [line for line in proc.stdout.splitlines() if "event=failed" in line]
    assert len(failed) == 1
    assert "fail_open=false" in failed[0]
    assert f'first_error="{bad}: cannot stat: No such file or directory"' in failed[0]
    # the readable files were still read
    assert f"bytes={_total(model_dir)} " in failed[0]


def test_symlink_loop_fails_naming_file(model_dir: Path) -> None:
    os.symlink("loop-b", model_dir / "loop-a")
    os.symlink("loop-a", model_dir / "loop-b")
    with pytest.raises(warmup.WarmupError) as info:
        warmup.warm(str(model_dir), 4096, 2, MIB)
    assert info.value.errors == (
        f"{model_dir}/loop-a: cannot stat: Too many levels of symbolic links",
        f"{model_dir}/loop-b: cannot stat: Too many levels of symbolic links",
    )
    assert info.value.result.bytes == _total(model_dir) - 0


def test_file_shrinking_mid_run_fails(model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    victim = model_dir / "model-00001-of-00002.safetensors"
    real_discover = warmup.discover

    def discover_then_truncate(root: str):
        found = real_discover(root)
        os.truncate(victim, MIB)  # shrinks after it was sized
        return found

    monkeypatch.setattr(warmup, "discover", discover_then_truncate)
    with pytest.raises(warmup.WarmupError) as info:
        warmup.warm(str(model_dir), 4096, 4, 2 * MIB)
    (error,) = info.value.errors  # one error per file, whichever range hit it first
    match = re.fullmatch(
        rf"{re.escape(str(victim))}: short read at offset (\d+): expected (\d+) more bytes "
        r"up to (\d+), got end of file \(file shrank\?\)",
        error,
    )
    assert match, error
    assert int(match[1]) >= MIB
    # the other files were read in full, the victim up to its new end at most
    assert _total(model_dir) - MIB <= info.value.result.bytes <= _total(model_dir)


def test_read_error_from_pread_names_file(tmp_path: Path) -> None:
    # a directory opens fine but pread fails with EISDIR, also for root
    d = tmp_path / "adir"
    d.mkdir()
    ok = tmp_path / "ok.bin"
    _write(ok, 10000)
    ranges = [warmup.Range(str(d), 0, 100), warmup.Range(str(ok), 0, 10000)]
    done, _, errors = warmup.read_ranges(ranges, 4096, 2)
    assert errors == [f"{d}: read of bytes 0..100 failed: Is a directory"]
    assert done == 10000


def test_unreadable_file_fails_fast_exit_1_and_fail_open(tmp_path: Path) -> None:
    d = tmp_path / "m"
    d.mkdir()
    _write(d / "a.bin", 1000)
    os.symlink(tmp_path / "missing", d / "b.bin")
    server = [sys.executable, "-c", "print('server started')"]
    closed = _run(["--", *server], {"WARMUP_DIR": str(d), "WARMUP_FAIL_OPEN": "false"})
    assert closed.returncode == 1
    assert "server started" not in closed.stdout
    assert f"path={d}/b.bin" in closed.stdout
    opened = _run(["--", *server], {"WARMUP_DIR": str(d), "WARMUP_FAIL_OPEN": "yes"})
    assert opened.returncode == 0, opened.stdout
    lines = opened.stdout.splitlines()
    assert any("event=failed" in ln and "fail_open=true" in ln for ln in lines)
    assert lines[-1] == "server started"


def test_timeout_is_a_failure(tmp_path: Path) -> None:
    d = tmp_path / "m"
    d.mkdir()
    _write(d / "big.bin", 64 * MIB)
    with pytest.raises(warmup.WarmupError) as info:
        warmup.warm(str(d), 4096, 1, 0, timeout=1e-6)
    assert "timed out after" in info.value.errors[-1]


# --------------------------------------------------------------------------- CLI / exec


def test_exec_handoff_order(model_dir: Path) -> None:
    proc = _run(
        ["--", sys.executable, "-c", "print('server started')"],
        {"WARMUP_DIR": str(model_dir), "WARMUP_LOG_LEVEL": "debug"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(
        f"warmup level=info event=start dir={model_dir} files=5 bytes={_total(model_dir)} "
    )
    done = [i for i, ln in enumerate(lines) if " event=done " in ln]
    assert len(done) == 1
    assert f" bytes={_total(model_dir)} " in lines[done[0]]
    assert " gbps=" in lines[done[0]]
    assert sum(" event=file " in ln for ln in lines) == 4  # non-empty files, debug only
    assert lines[done[0] + 1].startswith("warmup level=info event=exec argv=")
    assert lines[-1] == "server started"
    assert done[0] < len(lines) - 1


def test_exec_from_env_and_server_exit_status(model_dir: Path) -> None:
    cmd = f"{sys.executable} -c 'import sys; print(\"from env\"); sys.exit(7)'"
    proc = _run([], {"WARMUP_DIR": str(model_dir), "WARMUP_EXEC": cmd})
    assert proc.returncode == 7
    assert proc.stdout.splitlines()[-1] == "from env"


def test_args_win_over_env_exec(model_dir: Path) -> None:
    proc = _run(
        ["--", sys.executable, "-c", "print('from args')"],
        {"WARMUP_DIR": str(model_dir), "WARMUP_EXEC": "false"},
    )
    assert proc.returncode == 0
    assert proc.stdout.splitlines()[-1] == "from args"


def test_disabled_skips_warmup(model_dir: Path) -> None:
    proc = _run(
        ["--", sys.executable, "-c", "print('server started')"],
        {"WARMUP_DIR": str(model_dir), "WARMUP_ENABLED": "false"},
    )
    assert proc.returncode == 0
    assert "event=start" not in proc.stdout
    assert proc.stdout.splitlines()[-1] == "server started"


def test_missing_server_command_exits_127(tmp_path: Path) -> None:
    proc = _run(["--", "no-such-server-xyz"], {"WARMUP_DIR": str(tmp_path)})
    assert proc.returncode == 127
    assert "event=exec_failed argv=no-such-server-xyz" in proc.stdout


def test_main_in_process(model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert warmup.main([], {"WARMUP_DIR": str(model_dir), "WARMUP_CONCURRENCY": "2"}) == 0
    out = capsys.readouterr().out
    assert "event=done" in out
    assert "concurrency=2" in out


# --------------------------------------------------------------------------- fail-open paths


def _sparse(path: Path, size: int) -> None:
    """A file of `size` bytes that takes no disk: reading it 4 KiB at a time is slow enough."""
    with path.open("wb") as f:
        f.truncate(size)


def test_read_error_fails_open_by_default(tmp_path: Path) -> None:
    d = tmp_path / "m"
    d.mkdir()
    _write(d / "a.bin", 1000)
    os.symlink(tmp_path / "missing", d / "b.bin")
    proc = _run(["--", sys.executable, "-c", "print('server started')"], {"WARMUP_DIR": str(d)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert any("event=failed" in ln and "fail_open=true" in ln for ln in lines)
    assert lines[-1] == "server started"


def test_auto_timeout_grows_with_model_size() -> None:
    assert warmup.auto_timeout(0) == 60.0
    assert warmup.auto_timeout(15 * 10**9) == 360.0  # the seed's 15 GB model: 6 minutes


def test_default_timeout_is_derived_from_the_bytes_found(model_dir: Path) -> None:
    proc = _run(["--", sys.executable, "-c", "print('ok')"], {"WARMUP_DIR": str(model_dir)})
    start = proc.stdout.splitlines()[0]
    expected = warmup.auto_timeout(_total(model_dir))
    assert f" timeout={expected:.3f}" in start, start


def test_hung_read_times_out_and_the_server_still_starts(tmp_path: Path) -> None:
    d = tmp_path / "m"
    d.mkdir()
    _sparse(d / "huge.bin", 64 * 1024**3)  # minutes at 4 KiB per read: stands in for a hang
    env = {
        "WARMUP_DIR": str(d),
        "WARMUP_TIMEOUT": "1",
        "WARMUP_BLOCK_SIZE": "4K",
        "WARMUP_CONCURRENCY": "1",
        "WARMUP_RANGE_SIZE": "0",
    }
    proc = _run(["--", sys.executable, "-c", "print('server started')"], env, timeout=30)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    failed = next(ln for ln in lines if " event=failed " in ln)
    assert "fail_open=true" in failed
    assert "timed out after 1 s" in failed
    assert lines[-1] == "server started"


def test_sigterm_stops_the_warmup_and_skips_the_server(tmp_path: Path) -> None:
    d = tmp_path / "m"
    d.mkdir()
    _sparse(d / "huge.bin", 64 * 1024**3)
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARMUP_")}
    env.update(
        {
            "WARMUP_DIR": str(d),
            "WARMUP_TIMEOUT": "0",
            "WARMUP_BLOCK_SIZE": "4K",
            "WARMUP_CONCURRENCY": "1",
            "WARMUP_RANGE_SIZE": "0",
        }
    )
    server = [sys.executable, "-c", "print('server started')"]
    proc = subprocess.Popen(
        [sys.executable, str(WARMUP), "--", *server],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()  # the start line: the warm-up is reading
    assert " event=start " in first
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=15)
    assert proc.returncode == 143
    assert out.splitlines()[-1].startswith("warmup level=error event=terminated ")
    assert "server started" not in out
