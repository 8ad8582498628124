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
from typing import TextIO

from stockpulse.domain.alerts import AlertNotice, NoticeKind
from stockpulse.domain.events import epoch_ms, from_epoch_ms
from stockpulse.domain.tiers import Tier
from stockpulse_local.channels import Routing

TIER_COLOURS = {"yellow": "33", "orange": "38;5;208", "red": "31;1", "resolved": "32", "none": "32"}


def clock_text(ms: int, tz: tzinfo | None, *, seconds: bool = True) -> str:
    """An instant as the show's wall clock: 20:40:25 in the session's own offset."""
    instant = from_epoch_ms(ms).astimezone(tz) if tz is not None else from_epoch_ms(ms)
    return instant.strftime("%H:%M:%S" if seconds else "%H:%M")


def utc_offset(tz: tzinfo | None) -> str:
    """The session's offset for people: `UTC`, `UTC+08:00`."""
    if tz is None:
        return "UTC"
    from datetime import datetime

    text = datetime(2000, 1, 1, tzinfo=tz).strftime("%z")
    return "UTC" if text in ("", "+0000") else f"UTC{text[:3]}:{text[3:]}"


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


CHANNEL_NAMES = {
    "feed": "big screen", "im": "IM", "sms": "SMS", "email": "e-mail", "supply_chain": "supply chain",
}  # fmt: skip


@dataclass
class MessagePrinter:
    """Prints every message the stack sent, once, as the people it reached read it: who got it,
    the ledger as it stood when it was decided, the text, and the SMS when one was paged."""

    routing: Routing
    tz: tzinfo | None = None
    shown: set[str] = field(default_factory=set)

    def fresh(self, notices: Mapping[str, AlertNotice]) -> list[AlertNotice]:
        """The notices not shown yet, in the order they were sent."""
        new = [n for alert_id, n in notices.items() if alert_id not in self.shown]
        self.shown.update(n.alert_id for n in new)
        return new

    def describe(self, notice: AlertNotice, colour: bool = False) -> str:
        kind, tier = notice.kind.value, notice.tier.value
        label = f"{tier.upper()} {kind}" if kind in ("alert", "repeat", "sold_out") else kind
        if notice.kind is NoticeKind.RESOLVED:
            said = "resolved" if notice.tier is Tier.NONE else "stepped down"
            label = f"{said} {notice.previous_tier.value}->{tier}"
        head = paint(label, "resolved" if notice.kind is NoticeKind.RESOLVED else tier, colour)
        at = clock_text(epoch_ms(notice.at), self.tz)
        channels = self.routing.channels(notice)
        reached = " · ".join(CHANNEL_NAMES[c] for c in channels)
        lines = [
            f"  {at}  {head}  {notice.sku_id}  (available {notice.available}, reserved {notice.reserved},"
            f" sold {notice.sold})  -> {reached}",
            f"            {notice.text_zh}",
        ]
        if "sms" in channels:
            lines.append(f"            SMS: {notice.sms_zh}")
        return "\n".join(lines)
