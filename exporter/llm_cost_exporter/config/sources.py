"""Source settings, one model per `type`. A new source type adds its model here and to AnySourceConfig."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from .base import LABEL_NAME, Strict
from .durations import Duration


class SourceConfig(Strict):
    """Settings every source type has; the `type` selects the subclass."""

    name: str = Field(min_length=1)
    type: str
    format: str = "native"
    labels: dict[str, str] = {}
    poll_interval: Duration = 1.0

    @field_validator("labels")
    @classmethod
    def _check_label_paths(cls, value: dict[str, str]) -> dict[str, str]:
        for label, path in value.items():
            if not LABEL_NAME.match(label):
                raise ValueError(f"invalid label name {label!r}: use letters, digits and underscores")
            if not path or path.startswith(".") or path.endswith(".") or ".." in path:
                raise ValueError(f"invalid dotted path {path!r} for label {label!r}: write it as metadata.feature")
        return value


class FileSourceConfig(SourceConfig):
    type: Literal["file"]
    path: str = Field(min_length=1, description="file path or glob")
    start_at: Literal["beginning", "end"] = "beginning"
    follow: bool = True
    max_line_bytes: int = Field(default=1 << 20, gt=0)


class PlannedSourceConfig(SourceConfig):
    """A source type the design names but this version does not read yet: rejected with a clear error."""

    model_config = ConfigDict(extra="allow", frozen=True)
    type: Literal["s3", "cloudwatch_logs", "openai_usage", "anthropic_usage", "bedrock_cloudwatch", "aws_cost_explorer"]

    @model_validator(mode="after")
    def _reject(self) -> PlannedSourceConfig:
        raise ValueError(f"source type {self.type!r} is not supported by this version; use type: file")


AnySourceConfig = Annotated[FileSourceConfig | PlannedSourceConfig, Field(discriminator="type")]


