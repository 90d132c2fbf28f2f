"""The configuration schema. Keys and defaults follow the design contract."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from .base import LABEL_NAME, Strict
from .durations import Duration
from .sources import AnySourceConfig, FileSourceConfig, SourceConfig

__all__ = ["AnySourceConfig", "BreakerConfig", "Config", "FileSourceConfig", "SourceConfig"]

DEFAULT_ATTRIBUTION = ["feature", "intent", "cohort", "cost_center", "product_line"]

# Labels the exporter sets itself; an attribution label must not reuse them.
RESERVED_LABELS = frozenset(
    {"provider", "model", "token_type", "status", "error_class", "tool", "source", "reason", "result",
     "window", "quantile", "user", "budget", "period", "label", "le", "job", "instance", "scope", "key"}
)


def _check_listen_address(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"invalid listen address {value!r}: write it as host:port, e.g. 127.0.0.1:9841")
    return value


def _listen_host(listen: str) -> str:
    return listen.rpartition(":")[0].strip("[]") or "0.0.0.0"


class ServerConfig(Strict):
    listen: str = "127.0.0.1:9841"
    # TLS and basic auth for /metrics, in the web configuration format of Prometheus' exporter-toolkit.
    web_config_file: Path | None = None

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, value: str) -> str:
        return _check_listen_address(value)

    @property
    def host(self) -> str:
        return _listen_host(self.listen)

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])


class BreakerConfig(Strict):
    """The circuit breaker: Alertmanager opens keys through a webhook, gateways ask before each call."""

    enabled: bool = False
    # A listener of its own, so a NetworkPolicy can admit Alertmanager and the gateways to this port
    # only. Without it the breaker API is served on server.listen.
    listen: str | None = None
    # TLS for the breaker listener (tls_server_config only; the breaker API authenticates by token).
    web_config_file: Path | None = None
    # Bearer token that Alertmanager sends with its webhook notifications.
    webhook_token_file: Path | None = None
    # Bearer token that gateways send with their checks; may be the same file.
    gateway_token_file: Path | None = None
    # How long a firing notification holds a key open; Alertmanager's repeat_interval must be shorter.
    ttl: Duration = 1800.0
    # Alert labels that name a spender, tried in this order when an alert has no breaker_scope label.
    scopes: list[str] = Field(default_factory=lambda: ["api_key_id", "feature"], min_length=1)
    # The scope that the key in GET /api/v1/breaker/keys/{key} belongs to.
    key_label: str = "api_key_id"

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, value: str | None) -> str | None:
        return None if value is None else _check_listen_address(value)

    @field_validator("scopes")
    @classmethod
    def _check_scopes(cls, value: list[str]) -> list[str]:
        for name in value:
            if not LABEL_NAME.match(name):
                raise ValueError(f"invalid label name {name!r} in breaker scopes: use letters, digits and underscores")
        return value

    @model_validator(mode="after")
    def _check_tokens(self) -> BreakerConfig:
        if not self.enabled:
            return self
        missing = [name for name in ("webhook_token_file", "gateway_token_file") if getattr(self, name) is None]
        if missing:
            raise ValueError(f"the enabled breaker needs {' and '.join(missing)}: every breaker endpoint "
                             "requires a bearer token, read from a file such as a mounted Secret")
        if self.key_label not in self.scopes:
            raise ValueError(f"breaker key_label {self.key_label!r} must be one of the scopes: {', '.join(self.scopes)}")
        return self

    @property
    def host(self) -> str | None:
        return None if self.listen is None else _listen_host(self.listen)

    @property
    def port(self) -> int | None:
        return None if self.listen is None else int(self.listen.rpartition(":")[2])


class StateConfig(Strict):
    path: Path = Path("/var/lib/llm-cost-exporter/state.db")
    checkpoint_interval: Duration = 1.0


class LabelsConfig(Strict):
    attribution: list[str] = Field(default_factory=lambda: list(DEFAULT_ATTRIBUTION))
    limits: dict[str, Annotated[int, Field(gt=0)]] = {}
    default_limit: int = Field(default=1000, gt=0)

    @field_validator("attribution")
    @classmethod
    def _check_attribution(cls, value: list[str]) -> list[str]:
        for name in value:
            if not LABEL_NAME.match(name):
                raise ValueError(f"invalid label name {name!r}: use letters, digits and underscores")
            if name in RESERVED_LABELS:
                raise ValueError(f"label {name!r} is set by the exporter itself; choose another name")
        if len(set(value)) != len(value):
            raise ValueError("attribution labels must be unique")
        return value

    def limit(self, label: str) -> int:
        return self.limits.get(label, self.default_limit)


class PriceOverride(Strict):
    """Prices in USD per million tokens. A missing cache price falls back to the input price."""

    provider: str = Field(min_length=1)
    model: str = Field(min_length=1)
    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cache_read: float | None = Field(default=None, ge=0)
    cache_write: float | None = Field(default=None, ge=0)
    cache_write_1h: float | None = Field(default=None, ge=0)


class PricingConfig(Strict):
    aliases: dict[str, str] = {}
    overrides: list[PriceOverride] = []

    @model_validator(mode="after")
    def _check_unique_overrides(self) -> PricingConfig:
        seen: set[tuple[str, str]] = set()
        for override in self.overrides:
            key = (override.provider, override.model)
            if key in seen:
                raise ValueError(f"two price overrides for provider {key[0]!r} and model {key[1]!r}: keep one")
            seen.add(key)
        return self


class RequestsConfig(Strict):
    idle_timeout: Duration = 120.0
    max_open: int = Field(default=200_000, gt=0)


class CohortsConfig(Strict):
    windows: list[Duration] = Field(default_factory=lambda: [3600.0, 86400.0, 604800.0], min_length=1)
    top_k: int = Field(default=10, ge=0, le=1000)
    pseudonymize_key_env: str = "LLM_COST_USER_KEY"
    max_users: int = Field(default=1_000_000, gt=0)


class PrefixesConfig(Strict):
    windows: list[Duration] = Field(default_factory=lambda: [3600.0, 86400.0], min_length=1)


class BudgetConfig(Strict):
    name: str = Field(min_length=1)
    match: dict[str, str] = {}
    period: Literal["day", "week", "month"]
    amount_usd: float = Field(gt=0)
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}: use an IANA name such as UTC or Europe/Berlin") from None
        return value


class Config(Strict):
    server: ServerConfig = ServerConfig()
    state: StateConfig = StateConfig()
    sources: list[AnySourceConfig] = []
    labels: LabelsConfig = LabelsConfig()
    pricing: PricingConfig = PricingConfig()
    requests: RequestsConfig = RequestsConfig()
    cohorts: CohortsConfig = CohortsConfig()
    prefixes: PrefixesConfig = PrefixesConfig()
    budgets: list[BudgetConfig] = []
    breaker: BreakerConfig = BreakerConfig()

    @model_validator(mode="after")
    def _check_cross_references(self) -> Config:
        names = [source.name for source in self.sources]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"source names must be unique; repeated: {', '.join(duplicates)}")

        budget_names = [budget.name for budget in self.budgets]
        duplicates = sorted({name for name in budget_names if budget_names.count(name) > 1})
        if duplicates:
            raise ValueError(f"budget names must be unique; repeated: {', '.join(duplicates)}")

        matchable = {"provider", "model", *self.labels.attribution}
        for budget in self.budgets:
            unknown = sorted(set(budget.match) - matchable)
            if unknown:
                raise ValueError(
                    f"budget {budget.name!r} matches on {', '.join(unknown)}, which is not an attribution label; "
                    f"add it to labels.attribution or match on one of: {', '.join(sorted(matchable))}"
                )

        if self.breaker.listen is not None and self.breaker.port == self.server.port:
            raise ValueError(f"breaker.listen {self.breaker.listen!r} uses the port of server.listen: choose another "
                             "port, or leave breaker.listen unset to serve the breaker API on server.listen")
        return self
