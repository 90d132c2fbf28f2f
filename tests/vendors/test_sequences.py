"""Every acceptance scenario in one sequence per HTTP vendor, with a restart through the state store midway.

After each step the counters must equal the truth the fake serves, exactly for token counts.
"""

from __future__ import annotations

import pytest

from llm_cost_exporter.state import StateStore

from . import test_anthropic as anthropic_case
from . import test_openai as openai_case
from .conftest import HOUR
from .fakes import Fault, FakeAnthropic, FakeOpenAI


def restart_through_store(poller, make, tmp_path):
    store = StateStore(tmp_path / "state.db")
    store.save({"vendors": {poller.name: poller.export_state()}})
    store.close()
    store = StateStore(tmp_path / "state.db")
    saved = store.load()["vendors"][poller.name]
    store.close()
    restarted = make()
    restarted.restore(saved)
    return restarted


def run_sequence(fake, make, revise, check, clock, tmp_path):
    poller = make()
    poller.poll(clock())                                  # several pages and an empty bucket
    check(poller)

    revise(1)                                             # a bucket revised upward
    poller.poll(clock.advance(300))
    check(poller)

    revise(2)
    fake.fail_next(Fault(429, {"Retry-After": "2"}))      # throttled, then served
    poller.poll(clock.advance(300))
    assert poller.up
    check(poller)

    revise(3)
    fake.fail_next(Fault(500))                            # a server error, then served
    poller.poll(clock.advance(300))
    assert poller.up
    check(poller)

    assert set(poller.errors) == {"rate_limit", "server_error"}
    poller = restart_through_store(poller, make, tmp_path)  # a restart in the middle; error counts restart at 0
    check(poller)

    revise(4)
    fake.fail_next(Fault(200, body=b'{"data": [{"start'))  # malformed JSON: nothing applied
    poller.poll(clock.advance(300))
    assert not poller.up
    poller.poll(clock.advance(60))
    assert poller.up
    check(poller)

    revise(5)
    fake.fail_next(Fault(delay=1.0))                      # a timeout, then served
    poller.poll(clock.advance(300))
    assert poller.up
    check(poller)

    right_key, fake.api_key = fake.api_key, "rotated-elsewhere"
    revise(6)
    poller.poll(clock.advance(300))                       # 401: the key is rejected
    assert not poller.up
    fake.api_key = right_key
    poller.poll(clock.advance(60))
    assert poller.up
    check(poller)
    assert set(poller.errors) == {"invalid_response", "timeout", "auth"}


def test_openai_sequence(clock, hooks, tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_OPENAI_ADMIN_KEY", openai_case.KEY)
    fake = FakeOpenAI(openai_case.KEY, clock, page_size=2)
    h0 = openai_case.H0
    fake.usage["completions"] = {h0 - 3 * HOUR: [openai_case.completions("gpt-4o", "proj_a", 1000, 400, 100, 50, 3)],
                                 h0 - 2 * HOUR: []}
    fake.costs = {openai_case.D0: [openai_case.cost("gpt-4o, input", "proj_a", 1.5)]}

    def revise(step: int) -> None:
        fake.usage["completions"][h0 - 2 * HOUR] = [
            openai_case.completions("gpt-4o", "proj_a", 100 * step, 10 * step, 0, step, step)]
        fake.costs[openai_case.D0] = [openai_case.cost("gpt-4o, input", "proj_a", 1.5 + 0.25 * step)]

    try:
        run_sequence(fake, lambda: openai_case.make_poller(fake, hooks), revise,
                     lambda poller: openai_case.assert_truth(poller, fake), clock, tmp_path)
    finally:
        fake.stop()


def test_anthropic_sequence(clock, hooks, tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_ANTHROPIC_ADMIN_KEY", anthropic_case.KEY)
    fake = FakeAnthropic(anthropic_case.KEY, clock, page_size=2)
    h0 = anthropic_case.H0
    fake.usage = {h0 - 3 * HOUR: [anthropic_case.usage("claude-sonnet-4-5", "wrkspc_a", 100, 5000, 300, 0, 40)],
                  h0 - 2 * HOUR: []}
    fake.costs = {anthropic_case.D0 - 86400: [anthropic_case.cost("Input Tokens", None, "120")]}

    def revise(step: int) -> None:
        fake.usage[h0 - 2 * HOUR] = [anthropic_case.usage("claude-haiku-4-5", None, 10 * step, 0, step, 0, step)]
        fake.costs[anthropic_case.D0 - 86400] = [anthropic_case.cost("Input Tokens", None, str(120 + 7 * step))]

    try:
        run_sequence(fake, lambda: anthropic_case.make_poller(fake, hooks), revise,
                     lambda poller: anthropic_case.assert_truth(poller, fake, clock()), clock, tmp_path)
    finally:
        fake.stop()


@pytest.fixture(autouse=True)
def no_real_sleep(sleeps):
    yield
    assert all(wait <= 2.0 for wait in sleeps.waits)
