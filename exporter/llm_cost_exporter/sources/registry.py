"""Record source types as the config's `type` key spells them."""

from __future__ import annotations

from collections.abc import Callable

from .base import RecordSource
from .cloudwatch_logs import CloudWatchLogsSource
from .file import FileSource
from .s3 import S3Source

SOURCE_FACTORIES: dict[str, Callable[..., RecordSource]] = {
    "file": FileSource,
    "s3": S3Source,
    "cloudwatch_logs": CloudWatchLogsSource,
}
