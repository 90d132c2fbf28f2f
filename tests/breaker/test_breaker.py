"""The breaker's holds in memory and in SQLite, driven by decoded webhook payloads and a fake clock."""

from __future__ import annotations

import orjson
import pytest

from llm_cost_exporter.breaker import Breaker, BreakerStore, WebhookError, parse_notification

SCOPES = ["api_key_id", "feature"]


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def notification(*alerts: dict) -> bytes:
    return orjson.dumps({"version": "4", "status": "firing", "receiver": "llm-breaker", "alerts": list(alerts)})


def alert(status: str = "firing", fingerprint: str = "f1", **labels: str) -> dict:
    labels = {"alertname": "LLMSpendBurnRateHigh", "breaker": "true", **labels}
    return {"status": status, "labels": labels, "annotations": {"summary": "spend 4x the 7d average"},
            "fingerprint": fingerprint}


def apply(breaker: Breaker, *alerts: dict) -> tuple[int, int]:
    actions, _ignored = parse_notification(notification(*alerts), SCOPES)
    return breaker.apply(actions)


def test_firing_alert_throttles_feature():
    clock = Clock()
    breaker = Breaker(600, clock=clock)
    apply(breaker, alert(feature="search", breaker_scope="feature"))

    decision = breaker.check([("api_key_id", "k1"), ("feature", "search")])
    assert not decision.allowed
    assert decision.hold.scope == "feature"
    assert decision.hold.key == "search"
    assert decision.hold.reason == "spend 4x the 7d average"
    assert decision.reopens_at == clock.now + 600
    assert breaker.check([("api_key_id", "k1"), ("feature", "chat")]).allowed


def test_resolved_alert_closes_key():
    breaker = Breaker(600, clock=Clock())
    apply(breaker, alert(api_key_id="k1"))
    assert apply(breaker, alert("resolved", api_key_id="k1")) == (0, 1)
    assert breaker.check([("api_key_id", "k1")]).allowed
    assert breaker.open_keys() == []


def test_hold_expires_without_refresh():
    clock = Clock()
    breaker = Breaker(60, clock=clock)
    apply(breaker, alert(api_key_id="k1"))
    clock.now += 59
    assert not breaker.check([("api_key_id", "k1")]).allowed
    clock.now += 1
    assert breaker.check([("api_key_id", "k1")]).allowed
    assert breaker.open_keys() == []


def test_refresh_extends_hold_and_keeps_opened_at():
    clock = Clock()
    breaker = Breaker(60, clock=clock)
    apply(breaker, alert(api_key_id="k1"))
    opened_at = clock.now
    clock.now += 50
    apply(breaker, alert(api_key_id="k1"))
    clock.now += 50
    decision = breaker.check([("api_key_id", "k1")])
    assert not decision.allowed
    assert decision.hold.opened_at == opened_at
    assert decision.reopens_at == opened_at + 110


def test_key_stays_open_while_another_alert_holds_it():
    breaker = Breaker(600, clock=Clock())
    apply(breaker, alert(fingerprint="a", feature="search"), alert(fingerprint="b", feature="search"))
    apply(breaker, alert("resolved", fingerprint="a", feature="search"))
    assert not breaker.check([("feature", "search")]).allowed
    apply(breaker, alert("resolved", fingerprint="b", feature="search"))
    assert breaker.check([("feature", "search")]).allowed


def test_holds_survive_restart(tmp_path):
    clock = Clock()
    store = BreakerStore(tmp_path / "state.db")
    breaker = Breaker(600, store, clock=clock)
    apply(breaker, alert(fingerprint="a", api_key_id="k1"), alert(fingerprint="b", api_key_id="k2"))
    breaker.close()

    clock.now += 100
    restarted = Breaker(600, BreakerStore(tmp_path / "state.db"), clock=clock)
    assert restarted.restore() == 2
    decision = restarted.check([("api_key_id", "k1")])
    assert not decision.allowed
    assert decision.reopens_at == clock.now - 100 + 600
    restarted.close()


def test_expired_holds_not_restored(tmp_path):
    clock = Clock()
    breaker = Breaker(60, BreakerStore(tmp_path / "state.db"), clock=clock)
    apply(breaker, alert(api_key_id="k1"))
    breaker.close()

    clock.now += 61
    restarted = Breaker(60, BreakerStore(tmp_path / "state.db"), clock=clock)
    assert restarted.restore() == 0
    assert restarted.check([("api_key_id", "k1")]).allowed
    restarted.close()


def test_store_shares_checkpoint_file(tmp_path):
    from llm_cost_exporter.state import StateStore

    checkpoint = StateStore(tmp_path / "state.db")
    checkpoint.save({"sources": {"gateway": {"a.jsonl": 10}}})
    breaker = Breaker(600, BreakerStore(tmp_path / "state.db"), clock=Clock())
    apply(breaker, alert(api_key_id="k1"))
    assert checkpoint.load() == {"sources": {"gateway": {"a.jsonl": 10}}}
    assert len(breaker.store.load()) == 1
    breaker.close()
    checkpoint.close()


def test_counts_checks_and_notifications():
    breaker = Breaker(600, clock=Clock())
    apply(breaker, alert(api_key_id="k1"))
    breaker.check([("api_key_id", "k1")])
    breaker.check([("api_key_id", "k2")])
    breaker.count_rejected("unauthorized")
    checks, notifications = breaker.counters()
    assert checks == {"allowed": 1, "throttled": 1}
    assert notifications == {"accepted": 1, "rejected": 0, "unauthorized": 1}


@pytest.mark.parametrize(("labels", "expected"), [
    ({"feature": "search", "api_key_id": "k1"}, ("api_key_id", "k1")),
    ({"feature": "search", "api_key_id": ""}, ("feature", "search")),
    ({"feature": "search", "api_key_id": "k1", "breaker_scope": "feature"}, ("feature", "search")),
    ({"team": "ads", "breaker_scope": "team"}, ("team", "ads")),
])
def test_scope_from_labels(labels, expected):
    actions, ignored = parse_notification(notification(alert(**labels)), SCOPES)
    assert ignored == 0
    assert (actions[0].scope, actions[0].key) == expected


@pytest.mark.parametrize("labels", [
    {"breaker": "false", "feature": "search"},
    {"cost_center": "ads"},
    {"feature": "", "breaker_scope": "feature"},
])
def test_alert_without_spender_ignored(labels):
    actions, ignored = parse_notification(notification(alert(**labels)), SCOPES)
    assert actions == []
    assert ignored == 1


def test_missing_fingerprint_uses_labels():
    first = alert(feature="search")
    del first["fingerprint"]
    actions, _ = parse_notification(notification(first, dict(first)), SCOPES)
    assert actions[0].fingerprint == actions[1].fingerprint


@pytest.mark.parametrize(("body", "message"), [
    (b"{", "invalid JSON"),
    (b'{"status": "firing"}', "the 'alerts' list is missing"),
    (b'{"alerts": [{"labels": {}}]}', "a 'status' of firing or resolved"),
    (b'{"alerts": [1]}', "is not an object"),
])
def test_invalid_payload_rejected(body, message):
    with pytest.raises(WebhookError, match=message):
        parse_notification(body, SCOPES)


def test_config_requires_tokens():
    from llm_cost_exporter.config import ConfigError, parse_config

    with pytest.raises(ConfigError, match="needs webhook_token_file and gateway_token_file"):
        parse_config("breaker: {enabled: true}")


def test_config_rejects_shared_port():
    from llm_cost_exporter.config import ConfigError, parse_config

    with pytest.raises(ConfigError, match="uses the port of server.listen"):
        parse_config("server: {listen: '127.0.0.1:9841'}\n"
                     "breaker: {enabled: true, listen: '0.0.0.0:9841', webhook_token_file: a, gateway_token_file: b}")
