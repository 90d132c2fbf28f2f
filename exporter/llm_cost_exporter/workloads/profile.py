"""Workload profile: the data that shapes a simulated gateway log.

A profile lists features, their intents with token-shape distributions and agent
workflows, the cohorts users belong to, error and retry behaviour, prompt caching and
the seasonality of the request rate. `default.yaml` next to this module is the profile
`simulate` uses unless `--profile` names another file. Scenarios derive variants of a
profile with `model_copy(update=...)`, so every model here is frozen.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..events import ERROR_CLASSES

DEFAULT_PROFILE = "default.yaml"


class ProfileError(ValueError):
    """A workload profile file is missing, unreadable or invalid."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LogNormal(_Frozen):
    """Token count drawn as `median * exp(sigma * N(0, 1))`, rounded and clipped to [min, max]."""

    median: float = Field(gt=0)
    sigma: float = Field(default=0.5, ge=0)
    min: int = Field(default=1, ge=0)
    max: int = Field(default=1_000_000, ge=1)

    @model_validator(mode="after")
    def _check_bounds(self) -> "LogNormal":
        if self.min > self.max:
            raise ValueError(f"min {self.min} is greater than max {self.max}")
        return self


class ModelChoice(_Frozen):
    provider: str
    model: str
    weight: float = Field(default=1.0, gt=0)
    # Share of output tokens spent on reasoning, for reasoning models.
    reasoning_share: float = Field(default=0.0, ge=0, le=0.95)


class Tool(_Frozen):
    name: str
    # Tokens the tool result adds to the conversation of the next model call.
    result_tokens: LogNormal
    error_rate: float = Field(default=0.01, ge=0, le=1)
    latency_seconds: float = Field(default=0.4, ge=0)


class AgentLoop(_Frozen):
    """A request stuck in a tool loop: many more model and tool calls than its intent plans."""

    probability: float = Field(ge=0, le=1)
    model_calls: int = Field(ge=1, le=250)


class Intent(_Frozen):
    name: str
    weight: float = Field(gt=0)
    models: tuple[ModelChoice, ...] = Field(min_length=1)
    # The user's part of the first prompt; the cached system prefix comes on top.
    input_tokens: LogNormal
    output_tokens: LogNormal
    # Model calls per request are 1 + Poisson(model_calls_mean - 1), clipped to model_calls_max.
    model_calls_mean: float = Field(default=1.0, ge=1)
    model_calls_max: int = Field(default=1, ge=1, le=250)
    # Probability that a model call other than the last one requests tools, and the maximum
    # number of tool calls it then makes.
    tool_call_probability: float = Field(default=0.0, ge=0, le=1)
    tool_calls_max: int = Field(default=1, ge=1, le=16)
    loop: AgentLoop | None = None


class Cache(_Frozen):
    """Prompt caching of a feature's stable prefix (system prompt and tool definitions)."""

    prefix_tokens: int = Field(default=0, ge=0)
    # Probability that a first call reads the prefix from the cache while the cache is warm.
    hit_rate: float = Field(default=0.0, ge=0, le=1)
    # Probability that a later call of the same request reads the conversation so far.
    followup_hit_rate: float = Field(default=0.0, ge=0, le=1)
    # Seconds a cached prefix stays warm after its last use.
    ttl_seconds: float = Field(default=300, gt=0)
    # When > 0, the prefix embeds a timestamp rounded to this many seconds, so its hash
    # changes that often and first calls miss the cache after every change.
    prefix_churn_seconds: float = Field(default=0, ge=0)
    prefix_version: str = "v1"


class Feature(_Frozen):
    name: str
    weight: float = Field(gt=0)
    cost_center: str = ""
    product_line: str = ""
    api_key_id: str = ""
    intents: tuple[Intent, ...] = Field(min_length=1)
    tools: tuple[Tool, ...] = ()
    cache: Cache = Cache()

    @model_validator(mode="after")
    def _check_tools(self) -> "Feature":
        agentic = [i.name for i in self.intents if i.tool_call_probability > 0 or i.loop]
        if agentic and not self.tools:
            raise ValueError(f"intents {sorted(agentic)} call tools, but the feature lists no tools")
        return self


class HeavyUsers(_Frozen):
    """A few users of a cohort who send a fixed share of its requests with larger prompts."""

    count: int = Field(ge=1)
    request_share: float = Field(gt=0, lt=1)
    token_multiplier: float = Field(default=1.0, gt=0)


class Cohort(_Frozen):
    name: str
    weight: float = Field(gt=0)
    users: int = Field(ge=1, le=1_000_000)
    # Users are ranked 1..users and drawn with probability proportional to rank**-zipf_exponent.
    zipf_exponent: float = Field(default=1.0, ge=0)
    token_multiplier: float = Field(default=1.0, gt=0)
    # Number of customer accounts the cohort's users belong to; 0 leaves customer_id empty.
    customers: int = Field(default=0, ge=0)
    heavy_users: HeavyUsers | None = None


class Retries(_Frozen):
    max_attempts: int = Field(default=3, ge=1, le=10)
    retryable: frozenset[str] = frozenset({"rate_limit", "timeout", "server_error"})
    backoff_seconds: float = Field(default=1.0, ge=0)

    @field_validator("retryable")
    @classmethod
    def _check_classes(cls, value: frozenset[str]) -> frozenset[str]:
        unknown = sorted(value - ERROR_CLASSES)
        if unknown:
            raise ValueError(f"unknown error classes {unknown}, expected some of {sorted(ERROR_CLASSES)}")
        return value


class Billing(_Frozen):
    """Share of a failed call's tokens the provider still bills."""

    input: float = Field(default=0.0, ge=0, le=1)
    output: float = Field(default=0.0, ge=0, le=1)


class Errors(_Frozen):
    # Probability per model call of each error class; the rest succeed.
    rates: dict[str, float] = {}
    # Per-provider rates that replace `rates` for that provider.
    provider_rates: dict[str, dict[str, float]] = {}
    billed: dict[str, Billing] = {}

    @model_validator(mode="after")
    def _check_classes(self) -> "Errors":
        tables = [("rates", self.rates)] + [
            (f"provider_rates.{name}", rates) for name, rates in self.provider_rates.items()
        ]
        for where, rates in tables:
            unknown = sorted(set(rates) - ERROR_CLASSES)
            if unknown:
                raise ValueError(f"{where}: unknown error classes {unknown}")
            if any(rate < 0 for rate in rates.values()) or sum(rates.values()) > 1:
                raise ValueError(f"{where}: rates must be non-negative and sum to at most 1")
        unknown = sorted(set(self.billed) - ERROR_CLASSES)
        if unknown:
            raise ValueError(f"billed: unknown error classes {unknown}")
        return self


class Seasonality(_Frozen):
    """Relative request rate by hour of day (UTC) and day of week (Monday first).

    Both tables are normalised to a mean of 1, so `requests_per_second` stays the average rate.
    """

    hourly: tuple[float, ...] = (1.0,) * 24
    weekly: tuple[float, ...] = (1.0,) * 7

    @field_validator("hourly", "weekly")
    @classmethod
    def _normalise(cls, value: tuple[float, ...], info) -> tuple[float, ...]:
        expected = 24 if info.field_name == "hourly" else 7
        if len(value) != expected:
            raise ValueError(f"expected {expected} values, got {len(value)}")
        if any(v < 0 for v in value) or sum(value) <= 0:
            raise ValueError("values must be non-negative with a positive sum")
        mean = sum(value) / len(value)
        return tuple(v / mean for v in value)


class Profile(_Frozen):
    requests_per_second: float = Field(gt=0)
    # Multiplies the whole rate; scenarios use it for growth and surges.
    rate_multiplier: float = Field(default=1.0, gt=0)
    seasonality: Seasonality = Seasonality()
    features: tuple[Feature, ...] = Field(min_length=1)
    cohorts: tuple[Cohort, ...] = Field(min_length=1)
    retries: Retries = Retries()
    errors: Errors = Errors()

    @model_validator(mode="after")
    def _check_unique_names(self) -> "Profile":
        for kind, names in (
            ("feature", [f.name for f in self.features]),
            ("cohort", [c.name for c in self.cohorts]),
        ):
            duplicates = sorted({n for n in names if names.count(n) > 1})
            if duplicates:
                raise ValueError(f"duplicate {kind} names {duplicates}")
        return self

    def feature(self, name: str) -> Feature:
        for feature in self.features:
            if feature.name == name:
                return feature
        raise KeyError(f"profile has no feature {name!r}; features: {sorted(f.name for f in self.features)}")


def parse_profile(data: object, source: str = "profile") -> Profile:
    """Validate profile data; the error names the file and each invalid location."""
    try:
        return Profile.model_validate(data)
    except ValidationError as err:
        problems = []
        for item in err.errors():
            location = ".".join(str(part) for part in item["loc"]) or "(top level)"
            problems.append(f"  {location}: {item['msg']}")
        raise ProfileError(f"invalid workload profile {source}:\n" + "\n".join(problems)) from None


def load_profile(path: str | Path | None = None) -> Profile:
    """Load a profile from a YAML file, or the built-in default profile when path is None."""
    if path is None:
        text = resources.files(__package__).joinpath(DEFAULT_PROFILE).read_text(encoding="utf-8")
        source = f"(built-in {DEFAULT_PROFILE})"
    else:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as err:
            raise ProfileError(f"failed to read workload profile {path}: {err.strerror}") from None
        source = str(path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ProfileError(f"workload profile {source} is not valid YAML: {err}") from None
    return parse_profile(data, source)
