"""Vendor poller types as the config's `type` key spells them."""

from __future__ import annotations

from collections.abc import Callable

from .anthropic import AnthropicUsagePoller
from .base import VendorPoller
from .bedrock import BedrockCloudWatchPoller
from .cost_explorer import CostExplorerPoller
from .openai import OpenAIUsagePoller

VENDOR_FACTORIES: dict[str, Callable[..., VendorPoller]] = {
    "openai_usage": OpenAIUsagePoller,
    "anthropic_usage": AnthropicUsagePoller,
    "bedrock_cloudwatch": BedrockCloudWatchPoller,
    "aws_cost_explorer": CostExplorerPoller,
}
