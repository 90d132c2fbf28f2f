"""Alert rules as code: values.yaml and Jinja2 templates rendered into Prometheus rules."""

from .render import PROMETHEUS_RULE_FILE, RULES_FILE, RenderedRules, RenderError, render
from .values import ValuesError, apply_overrides, check_values, load_values, parse_duration

__all__ = [
    "PROMETHEUS_RULE_FILE",
    "RULES_FILE",
    "RenderError",
    "RenderedRules",
    "ValuesError",
    "apply_overrides",
    "check_values",
    "load_values",
    "parse_duration",
    "render",
]
