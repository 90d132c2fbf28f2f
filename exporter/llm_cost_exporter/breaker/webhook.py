"""Decode Alertmanager's webhook payload (version 4) into breaker actions."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

MAX_PAYLOAD_BYTES = 1 << 20


class WebhookError(ValueError):
    """A payload that is not an Alertmanager webhook notification."""


@dataclass(frozen=True)
class AlertAction:
    """One alert of a notification: open (firing) or release (resolved) the hold it places on a key."""

    firing: bool
    scope: str
    key: str
    fingerprint: str
    alertname: str
    reason: str


def parse_notification(body: bytes, scopes: list[str]) -> tuple[list[AlertAction], int]:
    """Return the actions of a notification and the number of alerts ignored.

    An alert takes part only with the label breaker="true". Its scope is the label named by its
    breaker_scope label, or else the first label of `scopes` it carries with a non-empty value.
    """
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as err:
        raise WebhookError(f"invalid JSON: {err}") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("alerts"), list):
        raise WebhookError("not an Alertmanager webhook notification: the 'alerts' list is missing")
    actions: list[AlertAction] = []
    ignored = 0
    for alert in payload["alerts"]:
        action = _action(alert, scopes)
        if action is None:
            ignored += 1
        else:
            actions.append(action)
    return actions, ignored


def _action(alert: Any, scopes: list[str]) -> AlertAction | None:
    if not isinstance(alert, dict):
        raise WebhookError("an entry of 'alerts' is not an object")
    labels = alert.get("labels")
    status = alert.get("status")
    if not isinstance(labels, dict) or status not in ("firing", "resolved"):
        raise WebhookError("an alert lacks its 'labels' object or a 'status' of firing or resolved")
    if labels.get("breaker") != "true":
        return None
    scope = _scope(labels, scopes)
    if scope is None:
        return None
    annotations = alert.get("annotations") if isinstance(alert.get("annotations"), dict) else {}
    alertname = str(labels.get("alertname", ""))
    fingerprint = alert.get("fingerprint")
    if not isinstance(fingerprint, str) or not fingerprint:
        # Alertmanager always sends one; hashing the label set gives the same identity.
        fingerprint = hashlib.sha256(orjson.dumps(labels, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]
    reason = str(annotations.get("summary") or alertname or "alert")
    return AlertAction(status == "firing", scope, str(labels[scope]), fingerprint, alertname, reason)


def _scope(labels: dict[str, Any], scopes: list[str]) -> str | None:
    named = labels.get("breaker_scope")
    if named:
        return named if labels.get(named) else None
    for scope in scopes:
        if labels.get(scope):
            return scope
    return None
