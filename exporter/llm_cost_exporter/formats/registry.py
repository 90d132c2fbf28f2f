"""Format names as the config's `format` key spells them, mapped to their parsers."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .anthropic import AnthropicParser
from .base import Parser
from .bedrock_invocation import BedrockInvocationParser
from .litellm import LiteLLMParser
from .native import NativeParser
from .openai import OpenAIParser
from .otel_genai import OtelGenAIParser

ParserFactory = Callable[..., Parser]

FORMATS: dict[str, ParserFactory] = {
    "native": NativeParser,
    "openai": OpenAIParser,
    "anthropic": AnthropicParser,
    "litellm": LiteLLMParser,
    "otel_genai": OtelGenAIParser,
    "bedrock_invocation": BedrockInvocationParser,
}


def make_parser(name: str, attribution: Sequence[str], label_paths: dict[str, str] | None = None) -> Parser:
    """Build the parser for format `name`, raising ValueError for an unknown format."""
    try:
        factory = FORMATS[name]
    except KeyError:
        raise ValueError(f"unknown format {name!r}; use one of: {', '.join(sorted(FORMATS))}") from None
    return factory(attribution=attribution, label_paths=label_paths or {})
