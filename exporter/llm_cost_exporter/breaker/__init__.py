"""The circuit breaker: Alertmanager opens a spender's key through a webhook, gateways ask before each call."""

from .breaker import Breaker, Decision, Hold
from .collector import BreakerCollector
from .store import BreakerStore
from .webhook import WebhookError, parse_notification

__all__ = ["Breaker", "BreakerCollector", "BreakerStore", "Decision", "Hold", "WebhookError", "parse_notification"]
