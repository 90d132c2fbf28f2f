"""File tailing scenarios, each driven by explicit polls and an injected clock (no sleeps)."""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

import pytest

from llm_cost_exporter.config.models import FileSourceConfig
from llm_cost_exporter.sources.file import FileSource


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def config(path: Path | str, **extra) -> FileSourceConfig:
    return FileSourceConfig(name="gateway", type="file", path=str(path), **extra)


def lines(*numbers: int) -> list[bytes]:
    return [f'{{"n": {n}}}'.encode() for n in numbers]


def append(path: Path, *numbers: int) -> None:
    with open(path, "ab") as stream:
        stream.write(b"".join(line + b"\n" for line in lines(*numbers)))


def drain(source: FileSource, polls: int = 3) -> list[bytes]:
    """Poll a few times and return every line, as a real loop would."""
    result = []
    for _ in range(polls):
        result += source.poll()
    return result


@pytest.fixture
def log(tmp_path: Path) -> Path:
    return tmp_path / "gateway.jsonl"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_rename_rotation_reads_each_line_once(log, clock):
    append(log, 1, 2)
    source = FileSource(config(log), clock=clock)
    assert source.poll() == lines(1, 2)

    append(log, 3)
    os.rename(log, log.with_suffix(".jsonl.1"))
    append(log.with_suffix(".jsonl.1"), 4)  # the writer still has the renamed file open
    append(log, 5)
    assert sorted(drain(source)) == lines(3, 4, 5)
    assert len(source.files) == 1  # the rotated file is released once read


def test_rename_rotation_after_restart(tmp_path, log, clock):
    append(log, 1)
    source = FileSource(config(f"{log}*"), clock=clock)
    assert source.poll() == lines(1)
    positions = source.positions()
    source.close()

    append(log, 2)
    os.rename(log, tmp_path / "gateway.jsonl.1")
    append(log, 3)
    restarted = FileSource(config(f"{log}*"), positions, clock=clock)
    assert sorted(drain(restarted)) == lines(2, 3)


def test_copytruncate_reads_copy_from_offset(tmp_path, log, clock):
    append(log, 1, 2)
    source = FileSource(config(f"{log}*"), clock=clock)
    assert source.poll() == lines(1, 2)

    append(log, 3)
    shutil.copyfile(log, tmp_path / "gateway.jsonl.1")
    os.truncate(log, 0)
    append(log, 4)
    assert sorted(drain(source)) == lines(3, 4)


def test_copytruncate_poll_between_copy_and_truncate(tmp_path, log, clock):
    append(log, 1)
    source = FileSource(config(f"{log}*"), clock=clock)
    assert source.poll() == lines(1)

    append(log, 2)
    shutil.copyfile(log, tmp_path / "gateway.jsonl.1")
    first = source.poll()
    os.truncate(log, 0)
    append(log, 3)
    assert sorted(first + drain(source)) == lines(2, 3)


def test_copytruncate_while_stopped(tmp_path, log, clock):
    append(log, 1, 2)
    source = FileSource(config(f"{log}*"), clock=clock)
    assert source.poll() == lines(1, 2)
    positions = source.positions()
    source.close()

    append(log, 3)
    shutil.copyfile(log, tmp_path / "gateway.jsonl.1")
    os.truncate(log, 0)
    append(log, 4, 5, 6, 7)  # longer than before, so only the first bytes tell
    restarted = FileSource(config(f"{log}*"), positions, clock=clock)
    assert sorted(drain(restarted)) == lines(3, 4, 5, 6, 7)


def gzip_rotate(path: Path, rotated: Path) -> None:
    """Rename, compress and remove the uncompressed file, as logrotate's compress does."""
    os.rename(path, rotated)
    with open(rotated, "rb") as plain, gzip.open(f"{rotated}.gz", "wb") as packed:
        shutil.copyfileobj(plain, packed)
    os.unlink(rotated)


def test_gzip_rotation_continues_in_compressed_file(tmp_path, log, clock):
    append(log, 1, 2)
    source = FileSource(config(f"{log}*"), clock=clock)
    assert source.poll() == lines(1, 2)

    append(log, 3)
    gzip_rotate(log, tmp_path / "gateway.jsonl.1")
    append(log, 4)
    assert sorted(drain(source)) == lines(3, 4)


def test_gzip_rotation_while_stopped(tmp_path, log, clock):
    append(log, 1)
    source = FileSource(config(f"{log}*"), clock=clock)
    assert source.poll() == lines(1)
    positions = source.positions()
    source.close()

    append(log, 2, 3)
    gzip_rotate(log, tmp_path / "gateway.jsonl.1")
    append(log, 4)
    restarted = FileSource(config(f"{log}*"), positions, clock=clock)
    assert sorted(drain(restarted)) == lines(2, 3, 4)
    again = FileSource(config(f"{log}*"), restarted.positions(), clock=clock)
    assert drain(again) == []


def test_incomplete_gzip_waits(tmp_path, log, clock):
    packed = gzip.compress(b"".join(line + b"\n" for line in lines(1, 2, 3)))
    rotated = tmp_path / "gateway.jsonl.1.gz"
    rotated.write_bytes(packed[: len(packed) // 2])
    source = FileSource(config(f"{log}*"), clock=clock)
    assert source.poll() == []
    rotated.write_bytes(packed)
    assert source.poll() == lines(1, 2, 3)


def test_partial_line_waits_for_newline(log, clock):
    log.write_bytes(b'{"n": 1}\n{"n": ')
    source = FileSource(config(log), clock=clock)
    assert source.poll() == lines(1)
    assert source.poll() == []
    with open(log, "ab") as stream:
        stream.write(b"2}\n")
    assert source.poll() == lines(2)


def test_partial_line_of_rotated_file_after_timeout(tmp_path, log, clock):
    log.write_bytes(b'{"n": 1}\n{"n": 2}')
    source = FileSource(config(log), clock=clock, partial_line_timeout=30)
    assert source.poll() == lines(1)
    os.rename(log, tmp_path / "gateway.jsonl.1")
    assert source.poll() == []
    clock.now += 29
    assert source.poll() == []
    clock.now += 1
    assert source.poll() == lines(2)
    assert source.files == {}


def test_replaced_file_is_read_from_start(tmp_path, log, clock):
    append(log, 1, 2)
    source = FileSource(config(log), clock=clock)
    assert source.poll() == lines(1, 2)

    replacement = tmp_path / "new.jsonl"
    append(replacement, 3)
    os.replace(replacement, log)
    assert drain(source) == lines(3)
    assert len(source.files) == 1


def test_replaced_file_while_stopped(log, clock):
    append(log, 1, 2, 3)
    source = FileSource(config(log), clock=clock)
    assert source.poll() == lines(1, 2, 3)
    positions = source.positions()
    source.close()

    log.unlink()
    append(log, 4, 5, 6, 7)  # may reuse the inode; the fingerprint differs
    restarted = FileSource(config(log), positions, clock=clock)
    assert drain(restarted) == lines(4, 5, 6, 7)


def test_deleted_file_is_read_to_end_and_released(log, clock):
    append(log, 1)
    source = FileSource(config(log), clock=clock)
    assert source.poll() == lines(1)
    handle = open(log, "ab")  # the writer keeps writing after the delete
    log.unlink()
    handle.write(b'{"n": 2}\n')
    handle.flush()
    assert source.poll() == lines(2)
    assert source.files == {}
    handle.close()
    assert source.positions()["files"] == []


def test_permission_denied_is_retried(log, clock):
    append(log, 1)
    denied = {"count": 2}

    def opener(path):
        if denied["count"]:
            denied["count"] -= 1
            raise PermissionError(13, "Permission denied", path)
        return open(path, "rb")

    source = FileSource(config(log), clock=clock, opener=opener)
    assert source.poll() == []
    assert source.up is False
    assert source.poll() == []
    assert source.errors == {"PermissionError": 2.0}
    assert source.poll() == lines(1)
    assert source.up is True


def test_truncated_file_is_read_from_start(log, clock):
    append(log, 1, 2, 3)
    source = FileSource(config(log), clock=clock)
    assert source.poll() == lines(1, 2, 3)
    os.truncate(log, 0)
    append(log, 4)
    assert source.poll() == lines(4)


def test_shrunk_file_continues_at_new_end(log, clock):
    log.write_bytes(b"".join(b'{"n": %d, "pad": "%s"}\n' % (n, b"x" * 100) for n in range(1, 5)))
    source = FileSource(config(log), clock=clock)
    assert len(source.poll()) == 4
    os.truncate(log, 360)  # three of the four 120-byte lines remain
    assert source.poll() == []
    append(log, 5)
    assert source.poll() == lines(5)


def test_shrunk_file_cut_mid_line(log, clock):
    log.write_bytes(b"".join(b'{"n": %d, "pad": "%s"}\n' % (n, b"x" * 100) for n in range(1, 5)))
    source = FileSource(config(log), clock=clock)
    assert len(source.poll()) == 4
    os.truncate(log, 300)  # cuts the third line in half
    assert source.poll() == []
    append(log, 5, 6)  # the first appended line continues the cut one
    assert source.poll() == lines(6)


def test_truncate_and_regrow_between_polls(log, clock):
    append(log, 1)
    source = FileSource(config(log), clock=clock)
    assert source.poll() == lines(1)
    os.truncate(log, 0)
    append(log, 20, 21, 22)  # larger than before: only the fingerprint shows the truncation
    assert source.poll() == lines(20, 21, 22)


def test_glob_picks_up_new_files_from_start(tmp_path, clock):
    first = tmp_path / "a.jsonl"
    append(first, 1)
    source = FileSource(config(tmp_path / "*.jsonl", start_at="end"), clock=clock)
    assert source.poll() == []
    append(tmp_path / "b.jsonl", 2)
    append(first, 3)
    assert sorted(source.poll()) == lines(2, 3)


def test_restart_resumes_without_double_count(log, clock):
    append(log, 1, 2)
    source = FileSource(config(log), clock=clock)
    assert source.poll() == lines(1, 2)
    positions = source.positions()
    source.close()
    append(log, 3)
    restarted = FileSource(config(log), positions, clock=clock)
    assert restarted.poll() == lines(3)


def test_start_at_end_applies_to_first_start_only(log, clock):
    append(log, 1)
    source = FileSource(config(log, start_at="end"), clock=clock)
    assert source.poll() == []
    append(log, 2)
    assert source.poll() == lines(2)


def test_oversized_line_is_cut_and_skipped(log, clock):
    with open(log, "wb") as stream:
        stream.write(b'{"n": 1}\n' + b"x" * (10 << 20) + b'\n{"n": 2}\n')
    source = FileSource(config(log, max_line_bytes=1 << 20), clock=clock)
    records = drain(source, polls=4)
    assert records[0] == lines(1)[0]
    assert len(records[1]) == (1 << 20) + 1
    assert records[2:] == lines(2)


def test_symlink_switched_to_new_file(tmp_path, clock):
    first, second = tmp_path / "gateway-1.jsonl", tmp_path / "gateway-2.jsonl"
    link = tmp_path / "current.jsonl"
    append(first, 1)
    link.symlink_to(first)
    source = FileSource(config(link), clock=clock)
    assert source.poll() == lines(1)

    append(first, 2)
    append(second, 3)
    link.unlink()
    link.symlink_to(second)
    assert sorted(drain(source)) == lines(2, 3)
    assert len(source.files) == 1
