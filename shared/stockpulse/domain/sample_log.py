"""How the evaluator's per-minute samples are stored: change points plus the session's run minutes.

The evaluator samples every SKU once a minute (`[minute_ms, taken, consumption]`, and per-platform
usage for quota rebalancing). Stored as they were, a quiet SKU would cost a write every minute
and a busy one a ~4 KB item rewritten every minute. Instead:

- the session index item records the minutes the evaluator ran for the session, as ranges
  (`evaluated`: `[[first_ms, last_ms], ...]`, one write per session and minute);
- a SKU's FORECAST item keeps only its *change points*: a sample whose values differ from the
  sample before it (the first sample is always one), packed as varints into one binary attribute
  (about two bytes a minute for a selling SKU).

A SKU's samples are then every run minute from its first point on, each with the values of the
latest point at or before it (`expand`), which is exactly the list the evaluator used to store
as long as every run sampled every SKU. A run whose minute is not recorded (it failed part-way)
leaves a gap, as a missed run did before. Pure: no boto3.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from stockpulse.domain.events import MINUTE_MS

SAMPLE_MINUTES = 240  # a SKU's samples cover this many minutes up to the last run

Runs = list[tuple[int, int]]  # inclusive [first_ms, last_ms] minute ranges, sorted, disjoint


# -- varints -------------------------------------------------------------------------------------
def _put(out: bytearray, n: int) -> None:
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)


def _zz(n: int) -> int:
    return n * 2 if n >= 0 else -n * 2 - 1


def _unzz(n: int) -> int:
    return n >> 1 if not n & 1 else -((n + 1) >> 1)


class _Reader:
    def __init__(self, data: Any) -> None:
        self.data, self.at = bytes(data), 0  # boto3 reads binaries as `Binary`

    def more(self) -> bool:
        return self.at < len(self.data)

    def next(self) -> int:
        n = shift = 0
        while True:
            byte = self.data[self.at]
            self.at += 1
            n |= (byte & 0x7F) << shift
            if byte < 0x80:
                return n
            shift += 7


# -- samples [minute_ms, taken, consumption] ------------------------------------------------------
def pack_samples(points: Sequence[Sequence[int]]) -> bytes:
    """Per point one varint, zigzag(taken delta) * 4 + 2 if consumption moved otherwise than taken
    + 1 if the minute gap is not 1 (two bytes for up to 2,047 units a minute), then
    zigzag(consumption delta - taken delta) and the gap in minutes when flagged (the first
    point's gap is counted from minute 0)."""
    out = bytearray()
    minute = taken = consumption = 0
    for m, t, c in points:
        gap, dt, other = m // MINUTE_MS - minute, t - taken, (c - consumption) - (t - taken)
        _put(out, _zz(dt) * 4 + (other != 0) * 2 + (gap != 1))
        if other:
            _put(out, _zz(other))
        if gap != 1:
            _put(out, gap)
        minute, taken, consumption = m // MINUTE_MS, t, c
    return bytes(out)


def unpack_samples(data: Any) -> list[list[int]]:
    points: list[list[int]] = []
    reader = _Reader(data)
    minute = taken = consumption = 0
    while reader.more():
        head = reader.next()
        dt = _unzz(head >> 2)
        other = _unzz(reader.next()) if head & 2 else 0
        gap = reader.next() if head & 1 else 1
        minute, taken, consumption = minute + gap, taken + dt, consumption + dt + other
        points.append([minute * MINUTE_MS, taken, consumption])
    return points


# -- platform usage [minute_ms, {platform: used}] -------------------------------------------------
def pack_platforms(points: Sequence[Sequence[Any]]) -> bytes:
    """Platform names first (count, then length-prefixed UTF-8); per point the minute gap, then per
    platform 0 when absent, else 1 + zigzag(used - its last value)."""
    names = sorted({str(p) for _, used in points for p in used})
    out = bytearray()
    _put(out, len(names))
    for name in names:
        raw = name.encode()
        _put(out, len(raw))
        out += raw
    minute, last = 0, dict.fromkeys(names, 0)
    for m, used in points:
        _put(out, m // MINUTE_MS - minute)
        minute = m // MINUTE_MS
        for name in names:
            if name in used:
                _put(out, 1 + _zz(int(used[name]) - last[name]))
                last[name] = int(used[name])
            else:
                _put(out, 0)
    return bytes(out)


def unpack_platforms(data: Any) -> list[list[Any]]:
    reader = _Reader(data)
    data = reader.data
    names = []
    for _ in range(reader.next()):
        size = reader.next()
        names.append(data[reader.at : reader.at + size].decode())
        reader.at += size
    points: list[list[Any]] = []
    minute, last = 0, dict.fromkeys(names, 0)
    while reader.more():
        minute += reader.next()
        used: dict[str, int] = {}
        for name in names:
            code = reader.next()
            if code:
                last[name] += _unzz(code - 1)
                used[name] = last[name]
        points.append([minute * MINUTE_MS, used])
    return points


# -- change points and their expansion -------------------------------------------------------------
def change_points(samples: Sequence[Sequence[Any]]) -> list[list[Any]]:
    """The samples whose values differ from the sample before (the first always counts)."""
    return [list(s) for i, s in enumerate(samples) if i == 0 or list(s[1:]) != list(samples[i - 1][1:])]


def expand(points: Sequence[Sequence[Any]], runs: Runs, *, after_ms: int, before_ms: int) -> list[list[Any]]:
    """The samples in (after_ms, before_ms): the points, and every run minute from the first
    point on, carrying the values of the latest point at or before it."""
    if not points:
        return []
    first = int(points[0][0])
    by_minute = {int(p[0]): list(p[1:]) for p in points}
    minutes = set(by_minute) | {
        m for lo, hi in runs for m in range(max(lo, first), hi + 1, MINUTE_MS) if after_ms < m < before_ms
    }
    samples: list[list[Any]] = []
    values: list[Any] = []
    for m in sorted(minutes):
        values = by_minute.get(m, values)
        if after_ms < m < before_ms:
            samples.append([m, *values])
    return samples


# -- the session's run minutes ------------------------------------------------------------------
def runs_of(raw: Iterable[Sequence[Any]] | None) -> Runs:
    return [(int(lo), int(hi)) for lo, hi in raw or []]


def with_run(runs: Runs, minute_ms: int, *, keep_after_ms: int) -> Runs:
    """`runs` with `minute_ms` added (ranges merged) and the ranges ending by `keep_after_ms` dropped."""
    merged: Runs = []
    for lo, hi in sorted([*runs, (minute_ms, minute_ms)]):
        if merged and lo <= merged[-1][1] + MINUTE_MS:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return [(lo, hi) for lo, hi in merged if hi > keep_after_ms]


def runs_item(runs: Runs) -> list[list[int]]:
    return [[lo, hi] for lo, hi in runs]


def shown(stored: Mapping[str, Any] | None, index: Mapping[str, Any]) -> dict[str, Any] | None:
    """A FORECAST item as the big screen reads it, given the session's index item: `samples`
    expanded over the run minutes (SAMPLE_MINUTES up to the last run), `updated_ms` the last run."""
    if stored is None:
        return None
    values = {k: v for k, v in stored.items() if k not in ("pk", "sk", "samples", "platforms")}
    if "evaluated_ms" not in index:
        return {**values, "samples": []}
    last = int(index["evaluated_ms"])
    last -= last % MINUTE_MS
    samples = expand(
        unpack_samples(stored.get("samples", b"")),
        runs_of(index.get("evaluated")),
        after_ms=last - SAMPLE_MINUTES * MINUTE_MS,
        before_ms=last + MINUTE_MS,
    )
    return {**values, "samples": samples, "updated_ms": int(index["evaluated_ms"])}
