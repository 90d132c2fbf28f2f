"""Budget spend per calendar period (day, ISO week from Monday, month) in the budget's time zone."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from ..config.models import BudgetConfig


def period_bounds(ts: float, period: str, zone: ZoneInfo) -> tuple[float, float]:
    """Return the Unix start and end of the period containing `ts`, at local midnight."""
    local = datetime.fromtimestamp(ts, zone)
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "week":
        start -= timedelta(days=start.weekday())
    elif period == "month":
        start = start.replace(day=1)

    if period == "day":
        end = start + timedelta(days=1)
    elif period == "week":
        end = start + timedelta(days=7)
    else:
        end = start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
    # Re-attaching the zone after date arithmetic picks the right UTC offset across DST changes.
    start = start.replace(tzinfo=None).replace(tzinfo=zone)
    end = end.replace(tzinfo=None).replace(tzinfo=zone)
    return start.timestamp(), end.timestamp()


class BudgetTracker:
    """Spend of one budget in its current period. Spend from an earlier period arriving late is
    counted in `late_usd`, not in the current period."""

    def __init__(self, config: BudgetConfig) -> None:
        self.config = config
        self.zone = ZoneInfo(config.timezone)
        self.start = float("-inf")
        self.end = float("-inf")
        self.spend = 0.0
        self.late_usd = 0.0

    def matches(self, values: dict[str, str]) -> bool:
        return all(values.get(key, "") == wanted for key, wanted in self.config.match.items())

    def add(self, ts: float, cost: float) -> None:
        if ts >= self.end:
            self.roll(ts)
        if ts < self.start:
            self.late_usd += cost
            return
        self.spend += cost

    def roll(self, ts: float) -> None:
        """Move to the period containing `ts` if it is later than the current one."""
        if ts < self.end:
            return
        self.start, self.end = period_bounds(ts, self.config.period, self.zone)
        self.spend = 0.0

    def export_state(self) -> dict:
        return {"start": self.start if self.start != float("-inf") else None,
                "end": self.end if self.end != float("-inf") else None,
                "spend": self.spend, "late_usd": self.late_usd}

    def restore(self, state: dict) -> None:
        self.late_usd = state.get("late_usd", 0.0)
        start, end = state.get("start"), state.get("end")
        if start is None or period_bounds(start, self.config.period, self.zone) != (start, end):
            return  # never started, or the period or time zone changed: start afresh
        self.start, self.end = start, end
        self.spend = state.get("spend", 0.0)
