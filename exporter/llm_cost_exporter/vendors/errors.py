"""Errors of vendor API calls, classified for `llm_exporter_source_errors_total{error_class}`."""

from __future__ import annotations

# error_class values: rate_limit (429 or AWS throttling), server_error (5xx), timeout, connection,
# auth (401/403 or rejected AWS credentials), client_error (other 4xx), invalid_response
# (malformed JSON or an unexpected shape), missing_key (no key configured).
RETRYABLE = frozenset({"rate_limit", "server_error", "timeout", "connection"})


class VendorError(Exception):
    """A failed vendor call. The message names the endpoint and status, never a key or a response body."""

    def __init__(self, error_class: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.error_class = error_class
        self.retry_after = retry_after
        self.counted = False

    @property
    def retryable(self) -> bool:
        return self.error_class in RETRYABLE
