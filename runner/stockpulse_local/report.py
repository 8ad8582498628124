"""The replay report (docs/formats.md, contract section 3) as typed values.

A replay builds a `Report`; `write_report` writes it as the JSON the contract's example shows
(the fields in the order declared here, indent 1, UTF-8 text). A session's table keeps less: a
`ShowReport` has its `skus`, `orders` and `messages`, and is what the review reads (a saved
report file too). Instants stay the RFC 3339 text they are written as.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from stockpulse.domain.events import epoch_ms, parse_instant


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True)


class TierAlert(_Part):
    """An upward tier announcement."""

    tier: str
    at: str

    @property
    def at_ms(self) -> int:
        return epoch_ms(parse_instant(self.at))


class SkuReport(_Part):
    """One SKU's ledger and tier at the end, and its upward announcements in time order."""

    on_hand: int
    held: int
    reserved: int
    sold: int
    available: int
    tier: str
    paused: bool
    alerts: list[TierAlert]

    def alert_times(self) -> list[tuple[str, int]]:
        """The announcements as (tier, epoch ms)."""
        return [(a.tier, a.at_ms) for a in self.alerts]


class EventCounts(_Part):
    """Every event counted once: processed + duplicate + sum(rejected) = the events in the file."""

    processed: int
    duplicate: int
    rejected: dict[str, int]  # by reason, sorted


class Message(_Part):
    """A message as sent, and the channels that deliver it."""

    at: str
    sku_id: str
    kind: str
    tier: str
    from_tier: str | None = Field(default=None, exclude_if=lambda v: v is None)  # resolved only
    channels: list[str]
    restock_units: int | None
    sellout_eta_minutes: float | None
    text: str | None  # None: read from the table, which does not keep it

    @property
    def at_ms(self) -> int:
        return epoch_ms(parse_instant(self.at))


class ShowReport(_Part):
    """What a session's table tells (and a review needs): no event counts nor invariant check."""

    skus: dict[str, SkuReport]
    orders: dict[str, str]  # order id -> status
    messages: list[Message]


class Report(_Part):
    """A replay's report."""

    skus: dict[str, SkuReport]
    orders: dict[str, str]  # order id -> status
    events: EventCounts
    invariant_violations: int
    messages: list[Message]


def write_report(report: Report, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(report.model_dump(mode="json"), indent=1, ensure_ascii=False)
    path.write_text(text + "\n", encoding="utf-8")
    return path
