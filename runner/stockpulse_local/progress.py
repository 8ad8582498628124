"""What a replay shows while it runs: a progress bar and the alerts as they fire (stderr).

Plain text and carriage returns, no dependency. On a terminal the bar redraws in place (at most
ten times a second); when stderr is not a terminal only the final line is written, and with
`quiet` nothing but that final line.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any, TextIO

from stockpulse.adapters.dynamodb_ledger import StockItem
from stockpulse.domain.events import from_epoch_ms

TIER_COLOURS = {"yellow": "33", "orange": "38;5;208", "red": "31;1", "resolved": "32", "none": "32"}


def clock_text(ms: int, tz: tzinfo | None, *, seconds: bool = True) -> str:
    """An instant as the show's wall clock: 20:40:25 in the session's own offset."""
    instant = from_epoch_ms(ms).astimezone(tz) if tz is not None else from_epoch_ms(ms)
    return instant.strftime("%H:%M:%S" if seconds else "%H:%M")


def use_colour(stream: TextIO) -> bool:
    return _isatty(stream) and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def paint(text: str, tier: str, colour: bool) -> str:
    code = TIER_COLOURS.get(tier)
    return f"\x1b[{code}m{text}\x1b[0m" if colour and code else text


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


@dataclass
class ProgressBar:
    """events done / total, events/s, virtual time; redrawn in place on a terminal."""

    total: int
    tz: tzinfo | None = None
    stream: TextIO = field(default_factory=lambda: sys.stderr)
    quiet: bool = False
    min_interval_s: float = 0.1
    monotonic: Callable[[], float] = time.monotonic
    label: str = "replay"

    def __post_init__(self) -> None:
        self.live = not self.quiet and _isatty(self.stream)
        self.begin()
        self._last_draw = float("-inf")
        self._drawn = False
        self.done = 0
        self.virtual_ms: int | None = None

    def begin(self) -> None:
        """Start the clock (the backend is up): rates count from here."""
        self.started = self.monotonic()

    @property
    def elapsed_s(self) -> float:
        return max(1e-9, self.monotonic() - self.started)

    @property
    def rate(self) -> float:
        return self.done / self.elapsed_s

    def update(self, done: int, virtual_ms: int | None = None, *, force: bool = False) -> None:
        self.done = done
        if virtual_ms is not None:
            self.virtual_ms = virtual_ms
        if not self.live:
            return
        now = self.monotonic()
        if not force and now - self._last_draw < self.min_interval_s and done < self.total:
            return
        self._last_draw = now
        self.stream.write("\r" + self.line(shutil.get_terminal_size((100, 20)).columns) + "\x1b[K")
        self.stream.flush()
        self._drawn = True

    def line(self, columns: int = 100) -> str:
        total = max(1, self.total)
        share = min(1.0, self.done / total)
        parts = [f"{self.done}/{self.total}", f"{self.rate:,.0f} ev/s"]
        if self.virtual_ms is not None:
            parts.append(f"virtual {clock_text(self.virtual_ms, self.tz)}")
        if 0 < self.done < self.total and self.rate > 0:
            parts.append(f"eta {(self.total - self.done) / self.rate:,.0f}s")
        text = "  ".join(parts)
        # label + " [" + bar + "] " + "100%" + "  " + text must fit in columns - 1
        width = min(40, columns - 1 - len(self.label) - len(text) - 10)
        if width < 8:
            return f"{self.label} {share:4.0%}  {text}"[: columns - 1]
        filled = round(width * share)
        return f"{self.label} [{'#' * filled}{'.' * (width - filled)}] {share:4.0%}  {text}"

    def message(self, text: str) -> None:
        """A line above the bar (an alert): clears the bar, prints, redraws."""
        if self.quiet:
            return
        if self.live and self._drawn:
            self.stream.write("\r\x1b[K")
        self.stream.write(text + "\n")
        if self.live and self._drawn:
            self.stream.write(self.line(shutil.get_terminal_size((100, 20)).columns))
        self.stream.flush()

    def finish(self, summary: str | None = None) -> None:
        """The one line written in every mode: how many events, how long, how fast."""
        if self.live and self._drawn:
            self.stream.write("\r\x1b[K")
        text = summary or (
            f"{self.label}: {self.done} events in {self.elapsed_s:.1f} s ({self.rate:,.1f} events/s)"
        )
        self.stream.write(text + "\n")
        self.stream.flush()


@dataclass
class AlertWatcher:
    """Reports alert records as they appear, reading them only when a SKU's tier state changed.

    The stock item (read once per batch by the replay) carries the tier and the alert memory;
    only when one of them moved are the SKU's alert records queried.
    """

    session_id: str
    tz: tzinfo | None = None
    seen: set[str] = field(default_factory=set)
    _state: dict[str, tuple[Any, Any]] = field(default_factory=dict)

    def check(
        self, items: Mapping[str, StockItem], fetch: Callable[[str], list[dict[str, Any]]]
    ) -> list[dict[str, Any]]:
        """New alert records (any kind) since the last call, oldest first."""
        fresh: list[dict[str, Any]] = []
        for sku_id, item in items.items():
            state = (item.raw.get("tier"), item.raw.get("alert_memory"))
            if self._state.get(sku_id) == state:
                continue
            self._state[sku_id] = state
            for alert in fetch(sku_id):
                key = self.key(alert)
                if key in self.seen:
                    continue
                self.seen.add(key)
                fresh.append({**alert, "sku_id": sku_id})
        return sorted(fresh, key=lambda a: (int(a.get("at_ms", 0)), str(a.get("sku_id"))))

    @staticmethod
    def key(alert: Mapping[str, Any]) -> str:
        return str(alert.get("sk") or f"{alert.get('at_ms')}#{alert.get('tier')}#{alert.get('kind')}")

    def describe(self, alert: Mapping[str, Any], item: StockItem | None, colour: bool = False) -> str:
        kind = str(alert.get("kind", "alert"))
        tier = str(alert.get("tier", "none"))
        at = clock_text(int(alert.get("at_ms", 0)), self.tz)
        label = {"alert": "ALERT", "repeat": "still", "resolved": "RESOLVED"}.get(kind, kind)
        shown_tier = "resolved" if kind == "resolved" else tier
        head = paint(f"{label} {tier.upper()}", shown_tier, colour)
        text = f"  {at}  {head:<12}  {alert.get('sku_id')}"
        previous = alert.get("previous_tier")
        if kind == "alert" and previous:
            text += f" (was {previous})"
        if item is not None:
            lv = item.levels
            text += f"  available {lv.available}, reserved {lv.reserved}, sold {lv.sold}"
            if lv.paused:
                text += ", paused"
        return text
