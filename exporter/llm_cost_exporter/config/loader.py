"""Load and validate a YAML configuration file, reporting every error with its key path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .models import DEFAULT_ATTRIBUTION, Config

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
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err)
        raise ConfigError(source, [f"invalid YAML{where}: {problem}"]) from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(source, ["the top level must be a mapping of keys such as server, sources, budgets"])
    try:
        return Config.model_validate(raw)
    except ValidationError as err:
        errors = [_describe(error, raw) for error in err.errors()]
        # Cross-reference checks run only on a valid model; check the raw keys too, so that
        # one pass reports every problem.
        if not any("not an attribution label" in error for error in errors):
            errors += _cross_reference_problems(raw)
        raise ConfigError(source, errors) from None


def _cross_reference_problems(raw: dict[str, Any]) -> list[str]:
    """Check the references between sections on the raw data, as far as its shape allows."""
    labels = raw.get("labels") if isinstance(raw.get("labels"), dict) else {}
    attribution = labels.get("attribution", DEFAULT_ATTRIBUTION)
    if not isinstance(attribution, list):
        return []
    matchable = {"provider", "model", *(name for name in attribution if isinstance(name, str))}
    problems = []
    budgets = raw.get("budgets") if isinstance(raw.get("budgets"), list) else []
    for index, budget in enumerate(budgets):
        if not isinstance(budget, dict) or not isinstance(budget.get("match", {}), dict):
            continue
        unknown = sorted(set(budget.get("match", {})) - matchable)
        if unknown:
            problems.append(f"budgets[{index}].match: {', '.join(unknown)} is not an attribution label; add it to "
                            f"labels.attribution or match on one of: {', '.join(sorted(matchable))}")
    return problems


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
        value = error.get("input")
        if kind != "value_error" and isinstance(value, (str, int, float, bool)):
            message += f" (got {value!r})"  # the project's own value errors name the value already
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
