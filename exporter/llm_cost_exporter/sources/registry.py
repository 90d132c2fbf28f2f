"""Record source types as the config's `type` key spells them."""

from __future__ import annotations

from collections.abc import Callable

from .base import RecordSource
from .file import FileSource

SOURCE_FACTORIES: dict[str, Callable[..., RecordSource]] = {
    "file": FileSource,
}
