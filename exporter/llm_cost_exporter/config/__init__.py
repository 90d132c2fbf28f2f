"""Configuration: YAML validated with pydantic into a frozen `Config`."""

from .loader import ConfigError, load_config, parse_config
from .models import (
    BudgetConfig,
    Config,
    FileSourceConfig,
    PriceOverride,
    SourceConfig,
)

__all__ = [
    "BudgetConfig",
    "Config",
    "ConfigError",
    "FileSourceConfig",
    "PriceOverride",
    "SourceConfig",
    "load_config",
    "parse_config",
]
