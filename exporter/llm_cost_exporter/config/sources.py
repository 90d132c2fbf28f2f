"""Source settings, one model per `type`. A new source type adds its model here and to AnySourceConfig."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from ..formats.registry import FORMATS
from .base import LABEL_NAME, Strict
from .durations import Duration


class SourceConfig(Strict):
    """Settings every source type has; the `type` selects the subclass."""

    name: str = Field(min_length=1)
    type: str
    format: str = "native"
    labels: dict[str, str] = {}
    poll_interval: Duration = 1.0

    @field_validator("format")
    @classmethod
    def _check_format(cls, value: str) -> str:
        if value not in FORMATS:
            raise ValueError(f"unknown format {value!r}; use one of: {', '.join(sorted(FORMATS))}")
        return value

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


class VendorSourceConfig(SourceConfig):
    """Settings every vendor API source has. Vendor sources belong in exactly one replica (central mode),
    because two pollers of one organisation would count its usage twice."""

    provider: str = Field(min_length=1)
    interval: Duration = 300.0
    lookback: Duration = 172800.0
    timeout: Duration = 30.0
    retry_budget: Duration = 60.0
    max_attempts: int = Field(default=5, ge=1, le=20)


class HTTPVendorSourceConfig(VendorSourceConfig):
    """A vendor reached over HTTPS with an admin key read from `api_key_env` or `api_key_file`."""

    base_url: str = Field(pattern=r"^https?://")
    api_key_env: str | None = None
    api_key_file: str | None = None
    bucket_width: Literal["1m", "1h", "1d"] = "1h"
    costs: bool = True

    @model_validator(mode="after")
    def _check_key_source(self) -> HTTPVendorSourceConfig:
        # api_key_file wins over the default api_key_env; naming both explicitly is ambiguous.
        if self.api_key_file and self.api_key_env and "api_key_env" in self.model_fields_set:
            raise ValueError("set api_key_env or api_key_file, not both")
        return self


OPENAI_GROUP_BY = ("model", "project_id", "user_id", "api_key_id", "batch", "service_tier")


class OpenAIUsageSourceConfig(HTTPVendorSourceConfig):
    """OpenAI organization usage (completions, embeddings) and costs. user_id and api_key_id are opt-in."""

    type: Literal["openai_usage"]
    provider: str = Field(default="openai", min_length=1)
    base_url: str = Field(default="https://api.openai.com/v1", pattern=r"^https?://")
    api_key_env: str | None = "OPENAI_ADMIN_KEY"
    usage: list[Literal["completions", "embeddings"]] = ["completions", "embeddings"]
    group_by: list[Literal[OPENAI_GROUP_BY]] = ["model", "project_id"]


ANTHROPIC_GROUP_BY = ("model", "workspace_id", "api_key_id", "service_tier", "context_window", "inference_geo",
                      "account_id", "service_account_id")


class AnthropicUsageSourceConfig(HTTPVendorSourceConfig):
    """Anthropic Admin API usage report (messages) and cost report. api_key_id and account ids are opt-in."""

    type: Literal["anthropic_usage"]
    provider: str = Field(default="anthropic", min_length=1)
    base_url: str = Field(default="https://api.anthropic.com", pattern=r"^https?://")
    api_key_env: str | None = "ANTHROPIC_ADMIN_KEY"
    anthropic_version: str = "2023-06-01"
    group_by: list[Literal[ANTHROPIC_GROUP_BY]] = ["model", "workspace_id"]


class AWSVendorSourceConfig(VendorSourceConfig):
    """An AWS API reached through boto3 and its usual credential chain; `base_url` overrides the endpoint."""

    region: str | None = None
    base_url: str | None = Field(default=None, pattern=r"^https?://")
    provider: str = Field(default="bedrock", min_length=1)


class BedrockCloudWatchSourceConfig(AWSVendorSourceConfig):
    """Token and invocation counts of the CloudWatch namespace AWS/Bedrock, by ModelId."""

    type: Literal["bedrock_cloudwatch"]
    period: Duration = 300.0
    lookback: Duration = 10800.0
    model_ids: list[str] = []

    @field_validator("period")
    @classmethod
    def _check_period(cls, value: float) -> float:
        if value % 60:
            raise ValueError(f"invalid period {value:g}s: CloudWatch needs a multiple of 60 seconds")
        return value


class CostExplorerSourceConfig(AWSVendorSourceConfig):
    """Daily Bedrock cost by usage type from Cost Explorer. Every request is billed, so poll rarely."""

    type: Literal["aws_cost_explorer"]
    region: str | None = "us-east-1"
    interval: Duration = 21600.0
    lookback: Duration = 259200.0
    services: list[str] = Field(default_factory=lambda: ["Amazon Bedrock"], min_length=1)
    metric: str = "UnblendedCost"
    group_by: list[Literal["USAGE_TYPE", "LINKED_ACCOUNT"]] = Field(default_factory=lambda: ["USAGE_TYPE"],
                                                                  max_length=2)


class AWSLogSourceConfig(SourceConfig):
    """A log sink in AWS read through boto3 and its usual credential chain; `base_url` overrides the endpoint."""

    region: str | None = None
    base_url: str | None = Field(default=None, pattern=r"^https?://")
    start_at: Literal["beginning", "end"] = "beginning"
    max_line_bytes: int = Field(default=1 << 20, gt=0)


class S3SourceConfig(AWSLogSourceConfig):
    """JSON lines in the objects under `prefix`, read in key order; gzip objects are decompressed.

    `exclude` lists fnmatch patterns of keys to skip. With format bedrock_invocation it defaults
    to `*/data/*`, where Bedrock puts large request and response bodies next to its log objects.
    """

    type: Literal["s3"]
    bucket: str = Field(min_length=1)
    prefix: str = ""
    exclude: list[str] | None = None
    poll_interval: Duration = 60.0

    @property
    def excluded_keys(self) -> list[str]:
        if self.exclude is not None:
            return self.exclude
        return ["*/data/*"] if self.format == "bedrock_invocation" else []


class CloudWatchLogsSourceConfig(AWSLogSourceConfig):
    """Log events of one log group, one record per event, read with FilterLogEvents.

    `lookback` is how far before the newest event already read each poll searches again, so an
    event that CloudWatch Logs ingests late with an older timestamp is still read once.
    """

    type: Literal["cloudwatch_logs"]
    log_group: str = Field(min_length=1)
    log_stream_prefix: str | None = None
    filter_pattern: str | None = None
    lookback: Duration = 120.0
    poll_interval: Duration = 30.0


AnySourceConfig = Annotated[FileSourceConfig | S3SourceConfig | CloudWatchLogsSourceConfig
                            | OpenAIUsageSourceConfig | AnthropicUsageSourceConfig
                            | BedrockCloudWatchSourceConfig | CostExplorerSourceConfig,
                            Field(discriminator="type")]


