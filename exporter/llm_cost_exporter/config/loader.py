"""Load and validate a YAML configuration file, reporting every error with its key path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .models import Config

# Pydantic adds the discriminator value to the location of errors inside a tagged union.
_UNION_TAGS = frozenset({"file", "s3", "cloudwatch_logs", "openai_usage", "anthropic_usage",
                         "bedrock_cloudwatch", "aws_cost_explorer"})


class ConfigError(Exception):
    """An invalid configuration; `errors` lists one `path: message` line per problem."""

    def __init__(self, source: str, errors: list[str]) -> None:
        self.source = source
        self.errors = errors
        super().__init__(f"invalid configuration in {source}:\n" + "\n".join(f"  {line}" for line in errors))


def load_config(path: str | Path) -> Config:
    """Read, parse and validate the YAML file at `path`."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise ConfigError(str(path), [f"cannot read the file: {err.strerror}"]) from None
    return parse_config(text, str(path))


def parse_config(text: str, source: str = "<string>") -> Config:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(source, [f"invalid YAML: {err}"]) from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(source, ["the top level must be a mapping of keys such as server, sources, budgets"])
    try:
        return Config.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(source, [_describe(error, raw) for error in err.errors()]) from None


def _describe(error: dict[str, Any], raw: dict[str, Any]) -> str:
    location = _format_location(error["loc"])
    kind = error["type"]
    if kind == "missing":
        message = "missing; this key is required"
    elif kind == "extra_forbidden":
        message = "unknown key; check its spelling and indentation"
    elif kind == "union_tag_invalid":
        message = f"unknown source type {error['input'].get('type')!r}; use one of: {', '.join(sorted(_UNION_TAGS))}"
    elif kind == "union_tag_not_found":
        message = "missing type; set type: file (or another source type)"
    else:
        message = error["msg"].removeprefix("Value error, ")
    return f"{location}: {message}" if location else message


def _format_location(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part in _UNION_TAGS and text.endswith("]"):
            continue
        else:
            text += f".{part}" if text else str(part)
    return text
