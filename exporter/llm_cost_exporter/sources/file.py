"""Tail files matched by a path or glob, following rotation, with checkpointable positions.

Identity. A file is tracked by its device and inode, not by its name, so a file renamed by
rotation is read to its end exactly once and a new file under the old name is read from its
start. A fingerprint (SHA-256 of the first up to 256 bytes of content) tells a reused inode, or
a file truncated and written again, from the file that was read before.

Lineage. A file that appears with the same fingerprint as a file already read is a copy of it
(copytruncate, or gzip compression of a rotated file): it continues from the offset the
earlier file had reached instead of being read again. So a glob may match the rotated files
too (`gateway.jsonl*`), which is what lets lines written just before a rotation be read after
a restart. This assumes that two different log files never share their first 256 bytes, which
holds for JSON lines that carry a timestamp or an id.

Compressed files. A file that starts with the gzip magic bytes or whose name ends in `.gz` is
read decompressed, and only once it is complete (gzip may still be writing it); its offset
counts decompressed bytes.

Lines. Only complete lines are returned: a partial last line waits for its newline. A file that
is no longer under a watched name (rotated away or deleted) is read to its end and released; a
partial last line there is returned as a record once the file has not grown for
`partial_line_timeout` seconds. A line longer than `max_line_bytes` is returned cut to
`max_line_bytes + 1` bytes (the ingestor rejects it as oversized) and the rest of it skipped.

Where a file starts on first sight: files present at the very first start of a source begin at
`start_at` (beginning or end). Every file that appears later begins at its first byte, because
it was created after the exporter started watching, unless it is a copy of a file already read.
After a restart, known files resume from their checkpointed offset.
"""

from __future__ import annotations

import glob
import gzip
import hashlib
import logging
import os
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

from ..config.models import FileSourceConfig
from .lines import split_lines

log = logging.getLogger(__name__)

FINGERPRINT_BYTES = 256
READ_BYTES = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"
HISTORY_LIMIT = 64  # ended files remembered for lineage, newest first
PARTIAL_LINE_TIMEOUT = 30.0

_GZIP_ERRORS = (EOFError, OSError, zlib.error)


@dataclass
class TrackedFile:
    path: str
    device: int
    inode: int
    compressed: bool
    offset: int = 0  # content bytes consumed; decompressed bytes for gzip
    fingerprint: str = ""
    fingerprint_length: int = 0
    handle: Any = None  # plain: the open file; gzip: a _GzipStream while reading, else None
    pending: bytes = b""  # gzip: decompressed bytes after the offset, read but not yet returned
    skipping: bool = False  # inside a line longer than the limit, discarding to its newline
    checked_size: int = -1  # plain: size when the fingerprint was last verified
    complete: bool = False  # gzip: read to the end of its stream
    stored_size: int = 0  # gzip: on-disk size of the complete file
    idle_since: float | None = None  # when it was first seen unnamed without growth

    @property
    def identity(self) -> tuple[int, int]:
        return (self.device, self.inode)

    def record(self) -> dict[str, Any]:
        return {"path": self.path, "device": self.device, "inode": self.inode, "offset": self.offset,
                "fingerprint": self.fingerprint, "fingerprint_length": self.fingerprint_length,
                "compressed": self.compressed, "complete": self.complete, "stored_size": self.stored_size}


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class _GzipStream:
    """A decompressing reader that also closes the file under it."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.stream = gzip.GzipFile(fileobj=raw)

    def read(self, size: int) -> bytes:
        return self.stream.read(size)

    def close(self) -> None:
        self.stream.close()
        self.raw.close()

    def __enter__(self) -> _GzipStream:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def matching_paths(pattern: str) -> list[str]:
    """Return the paths that a source's path or glob names now. A plain path is returned as is."""
    return glob.glob(pattern) if glob.has_magic(pattern) else [pattern]


class FileSource:
    """A record source over the files that `config.path` (a path or a glob) matches.

    `clock` is a monotonic clock in seconds and `opener` opens a path for binary reading; tests
    inject both.
    """

    def __init__(
        self,
        config: FileSourceConfig,
        positions: dict | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        opener: Callable[[str], BinaryIO] = lambda path: open(path, "rb"),
        partial_line_timeout: float = PARTIAL_LINE_TIMEOUT,
    ) -> None:
        self.config = config
        self.name = config.name
        self.max_line_bytes = config.max_line_bytes
        self.files: dict[tuple[int, int], TrackedFile] = {}
        saved = positions or {}
        self._saved = {(entry["device"], entry["inode"]): entry for entry in saved.get("files", [])}
        self._history: list[dict[str, Any]] = list(saved.get("history", []))[:HISTORY_LIMIT]
        self._first_start = positions is None
        self._reported_no_match = False
        self._clock = clock
        self._open = opener
        self._partial_line_timeout = partial_line_timeout
        self._incomplete_gzip: dict[tuple[int, int], int] = {}  # identity -> size last tried
        # Error counts are checkpointed, so llm_exporter_source_errors_total survives restarts.
        self.errors: dict[str, float] = dict(saved.get("errors", {}))
        self.up = True
        self.last_success: float | None = None
        self._logged_errors: set[tuple[str, str]] = set()
        self._poll_ok = True

    # --- polling ---------------------------------------------------------------------

    def poll(self, max_bytes: int = 8 * READ_BYTES) -> list[bytes]:
        """Return the complete lines written since the last poll (up to about `max_bytes`)."""
        self._poll_ok = True
        self._discover()
        lines: list[bytes] = []
        budget = max_bytes
        for tracked in list(self.files.values()):
            if budget <= 0:
                break
            budget -= self._read(tracked, lines, budget)
        self._release_finished(lines)
        self.up = self._poll_ok
        if self._poll_ok:
            self.last_success = time.time()
        return lines

    def _discover(self) -> None:
        pattern = self.config.path
        found = []
        for path in matching_paths(pattern):
            try:
                stat = os.stat(path)
            except FileNotFoundError:
                continue
            except OSError as err:
                self._error("stat", path, err)
                continue
            if os.path.isfile(path):
                found.append((stat.st_mtime, path, stat))
        if not found and not self.files and not self._reported_no_match:
            log.warning("source %s: no file matches %s yet; it is read once it appears", self.name, pattern)
        self._reported_no_match = not found and not self.files
        # Oldest first, so rotated files are read before the file that replaced them.
        for _mtime, path, stat in sorted(found, key=lambda item: (item[0], item[1])):
            identity = (stat.st_dev, stat.st_ino)
            tracked = self.files.get(identity)
            if tracked is None:
                self._track(path, identity, stat.st_size)
            elif tracked.path != path:
                log.info("source %s: %s is now named %s", self.name, tracked.path, path)
                tracked.path = path
        if self._saved:
            # Checkpointed files that no longer exist may have been compressed or copied while
            # the exporter was down: keep them as ancestors for lineage.
            self._history[:0] = [dict(entry) for entry in self._saved.values()]
            del self._history[HISTORY_LIMIT:]
            self._saved.clear()
        self._first_start = False

    def _track(self, path: str, identity: tuple[int, int], size: int) -> None:
        compressed = path.endswith(".gz")
        try:
            handle = self._open(path)
            opened = os.fstat(handle.fileno())
            if (opened.st_dev, opened.st_ino) != identity:
                handle.close()  # replaced between stat and open: the next poll finds the new file
                return
            if not compressed:
                compressed = handle.read(2) == GZIP_MAGIC
        except OSError as err:
            self._error("open", path, err)
            return
        self._clear_error("open", path)
        tracked = TrackedFile(path=path, device=identity[0], inode=identity[1], compressed=compressed)
        saved = self._saved.get(identity)
        if compressed:
            handle.close()
            if saved and saved.get("complete") and saved.get("stored_size") == size:
                content_size = saved["offset"]  # unchanged since the checkpoint: skip decompressing it
            else:
                content_size = self._complete_gzip_size(tracked, size)
            if content_size is None:
                return
            tracked.stored_size = size
        else:
            tracked.handle = handle
            content_size = size

        saved = self._saved.pop(identity, None)
        if saved is not None and self._same_content(tracked, saved, content_size):
            tracked.offset = saved["offset"]
            tracked.fingerprint, tracked.fingerprint_length = saved["fingerprint"], saved["fingerprint_length"]
            log.info("source %s: resuming %s at byte %d", self.name, path, tracked.offset)
        else:
            if saved is not None:
                self._remember(saved)
            if not self._continue_ancestor(tracked, content_size):
                if self._first_start and self.config.start_at == "end":
                    tracked.offset = content_size
                    log.info("source %s: following %s from its end (byte %d)", self.name, path, content_size)
                else:
                    log.info("source %s: reading %s from its start", self.name, path)
        tracked.complete = compressed and tracked.offset >= content_size
        self._update_fingerprint(tracked, content_size)
        self.files[identity] = tracked

    def _complete_gzip_size(self, tracked: TrackedFile, size: int) -> int | None:
        """Return the decompressed size of a complete gzip file, or None while it is incomplete."""
        if self._incomplete_gzip.get(tracked.identity) == size:
            return None
        total = 0
        try:
            with _GzipStream(self._open(tracked.path)) as stream:
                while chunk := stream.read(READ_BYTES):
                    total += len(chunk)
        except _GZIP_ERRORS as err:
            if tracked.identity not in self._incomplete_gzip:
                log.info("source %s: %s is not a complete gzip file yet (%s); waiting", self.name, tracked.path, err)
            self._incomplete_gzip[tracked.identity] = size
            return None
        self._incomplete_gzip.pop(tracked.identity, None)
        return total

    # --- content and fingerprints ------------------------------------------------------

    def _prefix(self, tracked: TrackedFile, length: int) -> bytes:
        """Return the first `length` bytes of the file's content (decompressed for gzip)."""
        if length <= 0:
            return b""
        if tracked.compressed:
            with _GzipStream(self._open(tracked.path)) as stream:
                return stream.read(length)
        return os.pread(tracked.handle.fileno(), length, 0)

    def _same_content(self, tracked: TrackedFile, saved: dict, content_size: int) -> bool:
        length = saved.get("fingerprint_length", 0)
        if bool(saved.get("compressed")) != tracked.compressed:
            return False
        if content_size < saved.get("offset", 0) or content_size < length:
            return False
        try:
            return _digest(self._prefix(tracked, length)) == saved.get("fingerprint")
        except _GZIP_ERRORS:
            return False

    def _update_fingerprint(self, tracked: TrackedFile, content_size: int) -> None:
        if tracked.fingerprint_length < FINGERPRINT_BYTES and content_size > tracked.fingerprint_length:
            tracked.fingerprint_length = min(content_size, FINGERPRINT_BYTES)
            tracked.fingerprint = _digest(self._prefix(tracked, tracked.fingerprint_length))

    def _continue_ancestor(self, tracked: TrackedFile, content_size: int) -> bool:
        """Continue a copy of a file already read from that file's offset; return whether one was found."""
        candidates: list[tuple[TrackedFile | None, dict[str, Any]]] = [
            (other, other.record()) for other in self.files.values() if other.identity != tracked.identity]
        candidates += [(None, entry) for entry in self._saved.values()]
        candidates += [(None, entry) for entry in self._history]
        prefixes: dict[int, str] = {}
        for live, entry in candidates:
            length = entry.get("fingerprint_length", 0)
            if length <= 0 or length > content_size:
                continue
            if length not in prefixes:
                try:
                    prefixes[length] = _digest(self._prefix(tracked, length))
                except _GZIP_ERRORS:
                    return False
            if prefixes[length] != entry.get("fingerprint"):
                continue
            tracked.offset = min(entry["offset"], content_size)
            log.info("source %s: %s is a copy of %s; continuing at byte %d", self.name, tracked.path,
                     entry.get("path"), tracked.offset)
            if live is not None:
                # The copy delivers the bytes up to its size; the original continues after them.
                live.offset = max(live.offset, content_size)
                live.skipping = False
            else:
                self._forget(entry)
            return True
        return False

    def _remember(self, entry: dict[str, Any]) -> None:
        self._history.insert(0, entry)
        del self._history[HISTORY_LIMIT:]

    def _forget(self, entry: dict[str, Any]) -> None:
        self._history = [item for item in self._history if item is not entry]
        for identity, saved in list(self._saved.items()):
            if saved is entry:
                del self._saved[identity]

    # --- reading ---------------------------------------------------------------------

    def _read(self, tracked: TrackedFile, lines: list[bytes], budget: int) -> int:
        """Append the complete lines after the file's offset and return the bytes consumed."""
        try:
            if tracked.compressed:
                return self._read_gzip(tracked, lines, budget)
            return self._read_plain(tracked, lines, budget)
        except _GZIP_ERRORS as err:
            self._error("read", tracked.path, err)
            if tracked.compressed:
                self._close(tracked)  # reopened at the offset on the next poll
            return 0

    def _read_plain(self, tracked: TrackedFile, lines: list[bytes], budget: int) -> int:
        fd = tracked.handle.fileno()
        size = os.fstat(fd).st_size
        if size < tracked.offset:
            self._shrunk(tracked, size)
        elif size != tracked.checked_size and tracked.fingerprint_length:
            if _digest(os.pread(fd, tracked.fingerprint_length, 0)) != tracked.fingerprint:
                self._replaced(tracked, f"its first {tracked.fingerprint_length} bytes changed")
        tracked.checked_size = size
        self._update_fingerprint(tracked, size)
        if size <= tracked.offset:
            return 0
        length = min(size - tracked.offset, max(budget, self.max_line_bytes + 1))
        data = os.pread(fd, length, tracked.offset)
        return self._split(tracked, data, lines, final=False)

    def _read_gzip(self, tracked: TrackedFile, lines: list[bytes], budget: int) -> int:
        if tracked.complete:
            return 0
        if tracked.handle is None:
            tracked.handle = _GzipStream(self._open(tracked.path))
            tracked.handle.stream.seek(tracked.offset)  # decompresses up to the offset
            tracked.pending = b""
        requested = max(budget, self.max_line_bytes + 1)
        fresh = tracked.handle.read(requested)
        final = len(fresh) < requested
        data = tracked.pending + fresh
        before = tracked.offset
        self._split(tracked, data, lines, final=final)
        tracked.pending = data[tracked.offset - before:]
        if final:
            tracked.complete = True
            tracked.pending = b""
            self._close(tracked)
        return len(fresh)

    def _split(self, tracked: TrackedFile, data: bytes, lines: list[bytes], final: bool) -> int:
        split_lines(tracked, data, lines, self.max_line_bytes, final)
        return len(data)

    def _shrunk(self, tracked: TrackedFile, size: int) -> None:
        """Handle a file that is now shorter than the offset already read."""
        fd = tracked.handle.fileno()
        length = tracked.fingerprint_length
        if size >= length > 0 and _digest(os.pread(fd, length, 0)) == tracked.fingerprint:
            # Truncated to a shorter length with the same start: what remains was read already.
            log.warning("source %s: %s shrank from %d to %d bytes with the same first bytes; "
                        "continuing at its new end", self.name, tracked.path, tracked.offset, size)
            tracked.offset = size
            tracked.skipping = size > 0 and os.pread(fd, 1, size - 1) != b"\n"
            return
        self._replaced(tracked, f"it shrank from {tracked.offset} to {size} bytes")

    def _replaced(self, tracked: TrackedFile, reason: str) -> None:
        """Start a file over whose content was truncated or rewritten (copytruncate)."""
        log.info("source %s: %s was truncated or rewritten (%s); reading it from its start",
                 self.name, tracked.path, reason)
        self._remember(tracked.record())
        tracked.offset = 0
        tracked.fingerprint, tracked.fingerprint_length = "", 0
        tracked.skipping = False

    # --- releasing -------------------------------------------------------------------

    def _release_finished(self, lines: list[bytes]) -> None:
        """Close files no longer under a watched name once they are read to their end."""
        now = self._clock()
        for identity, tracked in list(self.files.items()):
            try:
                on_disk = os.stat(tracked.path)
                still_named = (on_disk.st_dev, on_disk.st_ino) == identity
            except OSError:
                still_named = False
            if still_named:
                tracked.idle_since = None
                continue
            if tracked.compressed:
                at_end = tracked.complete
            else:
                try:
                    size = os.fstat(tracked.handle.fileno()).st_size
                except OSError:
                    size = tracked.offset
                at_end = size <= tracked.offset
                if not at_end and tracked.checked_size == size:
                    if tracked.idle_since is None:
                        tracked.idle_since = now
                    elif now - tracked.idle_since >= self._partial_line_timeout:
                        self._read_rest(tracked, lines, size)
                        at_end = True
                else:
                    tracked.idle_since = None
            if at_end:
                log.info("source %s: released %s (rotated or deleted, read to its end)", self.name, tracked.path)
                self._close(tracked)
                self._remember(tracked.record())
                del self.files[identity]

    def _read_rest(self, tracked: TrackedFile, lines: list[bytes], size: int) -> None:
        """Return the partial last line of a file that stopped growing under no watched name."""
        data = os.pread(tracked.handle.fileno(), size - tracked.offset, tracked.offset)
        log.warning("source %s: %s ends in a line without a newline (%d bytes) and stopped growing; "
                    "reading it as a record", self.name, tracked.path, len(data))
        self._split(tracked, data, lines, final=True)
        tracked.offset = size

    @staticmethod
    def _close(tracked: TrackedFile) -> None:
        if tracked.handle is not None:
            tracked.handle.close()
            tracked.handle = None

    # --- errors ----------------------------------------------------------------------

    def _error(self, operation: str, path: str, err: Exception) -> None:
        self._poll_ok = False
        error_class = type(err).__name__
        self.errors[error_class] = self.errors.get(error_class, 0.0) + 1.0
        if (operation, path) not in self._logged_errors:
            self._logged_errors.add((operation, path))
            log.error("source %s: cannot %s %s: %s; retrying at each poll", self.name, operation, path, err)

    def _clear_error(self, operation: str, path: str) -> None:
        if (operation, path) in self._logged_errors:
            self._logged_errors.discard((operation, path))
            log.info("source %s: %s %s succeeded again", self.name, operation, path)

    # --- checkpoints -----------------------------------------------------------------

    def positions(self) -> dict:
        files = [tracked.record() for tracked in self.files.values()]
        # Checkpointed files not seen yet since the restart stay in the checkpoint.
        files += [dict(entry) for entry in self._saved.values()]
        return {"files": files, "history": [dict(entry) for entry in self._history], "errors": dict(self.errors)}

    def close(self) -> None:
        for tracked in self.files.values():
            self._close(tracked)
        self.files.clear()
