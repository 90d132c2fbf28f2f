"""Tail files matched by a path or glob, following rotation, with checkpointable positions.

Files are tracked by identity (device and inode), not by name, so a file renamed by rotation
is read to its end exactly once, and a new file under the old name is read from its start.
A fingerprint of the first bytes tells a reused inode or a truncated and rewritten file from
the file that was checkpointed. Only complete lines are returned: a partial last line waits
for its newline.

Where a file starts on first sight: files present at the very first start of a source begin at
`start_at` (beginning or end); every file that appears later begins at its first byte, because
it was created after the exporter started watching. After a restart, known files resume from
their checkpointed offset.
"""

from __future__ import annotations

import glob
import hashlib
import logging
import os
import time
from dataclasses import dataclass

from ..config.models import FileSourceConfig

log = logging.getLogger(__name__)

FINGERPRINT_BYTES = 256
READ_BYTES = 1 << 20


@dataclass
class TrackedFile:
    path: str
    device: int
    inode: int
    offset: int
    fingerprint: str = ""
    fingerprint_length: int = 0
    handle: object | None = None
    skipping: bool = False  # inside a line longer than the limit, discarding to its newline

    @property
    def identity(self) -> tuple[int, int]:
        return (self.device, self.inode)


def _fingerprint(handle, length: int) -> str:
    handle.seek(0)
    return hashlib.sha256(handle.read(length)).hexdigest()


class FileSource:
    def __init__(self, config: FileSourceConfig, positions: dict | None = None) -> None:
        self.config = config
        self.name = config.name
        self.max_line_bytes = config.max_line_bytes
        self.files: dict[tuple[int, int], TrackedFile] = {}
        self._saved = {(entry["device"], entry["inode"]): entry for entry in (positions or {}).get("files", [])}
        self._first_start = positions is None
        self.errors: dict[str, float] = {}
        self.up = True
        self.last_success: float | None = None
        self._logged_errors: set[tuple[str, str]] = set()

    # --- polling ---------------------------------------------------------------------

    def poll(self, max_bytes: int = 8 * READ_BYTES) -> list[bytes]:
        """Return the complete lines written since the last poll (up to about `max_bytes`)."""
        ok = self._discover()
        lines: list[bytes] = []
        budget = max_bytes
        for tracked in list(self.files.values()):
            if budget <= 0:
                break
            budget -= self._read(tracked, lines, budget)
        self._release_finished()
        self.up = ok
        if ok:
            self.last_success = time.time()
        return lines

    def _discover(self) -> bool:
        ok = True
        paths = sorted(glob.glob(self.config.path)) if glob.has_magic(self.config.path) else [self.config.path]
        seen_paths: dict[str, tuple[int, int]] = {}
        for path in paths:
            try:
                stat = os.stat(path)
            except FileNotFoundError:
                continue
            except OSError as err:
                ok = self._error("stat", path, err)
                continue
            if not os.path.isfile(path):
                continue
            identity = (stat.st_dev, stat.st_ino)
            seen_paths[path] = identity
            tracked = self.files.get(identity)
            if tracked is None:
                ok = self._track(path, identity, stat.st_size) and ok
            else:
                tracked.path = path
        self._first_start = False
        return ok

    def _track(self, path: str, identity: tuple[int, int], size: int) -> bool:
        try:
            handle = open(path, "rb")
        except OSError as err:
            return self._error("open", path, err)
        tracked = TrackedFile(path=path, device=identity[0], inode=identity[1], offset=0, handle=handle)
        saved = self._saved.pop(identity, None)
        if saved is not None and self._same_content(tracked, saved, size):
            tracked.offset = saved["offset"]
            tracked.fingerprint, tracked.fingerprint_length = saved["fingerprint"], saved["fingerprint_length"]
            log.info("source %s: resuming %s at byte %d", self.name, path, tracked.offset)
        elif self._first_start and self.config.start_at == "end":
            tracked.offset = size
            log.info("source %s: following %s from its end (byte %d)", self.name, path, size)
        else:
            log.info("source %s: reading %s from its start", self.name, path)
        self.files[identity] = tracked
        return True

    def _same_content(self, tracked: TrackedFile, saved: dict, size: int) -> bool:
        length = saved.get("fingerprint_length", 0)
        if size < saved.get("offset", 0) or size < length:
            return False
        return _fingerprint(tracked.handle, length) == saved.get("fingerprint")

    def _read(self, tracked: TrackedFile, lines: list[bytes], budget: int) -> int:
        handle = tracked.handle
        try:
            size = os.fstat(handle.fileno()).st_size
            if size < tracked.offset:
                log.warning("source %s: %s shrank from %d to %d bytes (copytruncate?); reading from its start",
                            self.name, tracked.path, tracked.offset, size)
                tracked.offset = 0
                tracked.fingerprint_length = 0
                tracked.skipping = False
            if size == tracked.offset:
                return 0
            self._update_fingerprint(tracked, size)
            handle.seek(tracked.offset)
            data = handle.read(min(budget, READ_BYTES * 8, size - tracked.offset))
        except OSError as err:
            self._error("read", tracked.path, err)
            return 0
        return self._split(tracked, data, lines)

    def _update_fingerprint(self, tracked: TrackedFile, size: int) -> None:
        if tracked.fingerprint_length < FINGERPRINT_BYTES and size > tracked.fingerprint_length:
            tracked.fingerprint_length = min(size, FINGERPRINT_BYTES)
            tracked.fingerprint = _fingerprint(tracked.handle, tracked.fingerprint_length)

    def _split(self, tracked: TrackedFile, data: bytes, lines: list[bytes]) -> int:
        """Append the complete lines of `data` and advance the offset past the last newline."""
        end = data.rfind(b"\n")
        if end < 0:
            if len(data) > self.max_line_bytes and not tracked.skipping:
                lines.append(data[: self.max_line_bytes + 1])  # rejected as oversized by the ingestor
                tracked.skipping = True
            if tracked.skipping:
                tracked.offset += len(data)
            return len(data)
        chunk = data[:end]
        start = 0
        if tracked.skipping:
            start = chunk.find(b"\n") + 1 if b"\n" in chunk else len(chunk)
            tracked.skipping = False
        for line in chunk[start:].split(b"\n") if start < len(chunk) else ():
            if line.strip():
                lines.append(line)
        tail = len(data) - end - 1
        if tail > self.max_line_bytes:
            lines.append(data[end + 1 : end + 2 + self.max_line_bytes])
            tracked.skipping = True
            tracked.offset += len(data)
        else:
            tracked.offset += end + 1
        return len(data)

    def _release_finished(self) -> None:
        """Close files no longer under a watched name once they are read to their end."""
        for identity, tracked in list(self.files.items()):
            try:
                on_disk = os.stat(tracked.path)
                still_named = (on_disk.st_dev, on_disk.st_ino) == identity
            except OSError:
                still_named = False
            if still_named:
                continue
            try:
                at_end = os.fstat(tracked.handle.fileno()).st_size <= tracked.offset
            except OSError:
                at_end = True
            if at_end:
                log.info("source %s: released %s (rotated or deleted, read to its end)", self.name, tracked.path)
                tracked.handle.close()
                del self.files[identity]

    def _error(self, operation: str, path: str, err: OSError) -> bool:
        error_class = type(err).__name__
        self.errors[error_class] = self.errors.get(error_class, 0.0) + 1.0
        if (operation, path) not in self._logged_errors:
            self._logged_errors.add((operation, path))
            log.error("source %s: cannot %s %s: %s; retrying at each poll", self.name, operation, path, err)
        return False

    # --- checkpoints -----------------------------------------------------------------

    def positions(self) -> dict:
        files = [{"path": t.path, "device": t.device, "inode": t.inode, "offset": t.offset,
                  "fingerprint": t.fingerprint, "fingerprint_length": t.fingerprint_length}
                 for t in self.files.values()]
        return {"files": files}

    def close(self) -> None:
        for tracked in self.files.values():
            tracked.handle.close()
        self.files.clear()
