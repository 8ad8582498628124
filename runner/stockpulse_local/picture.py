"""What a replay leaves behind for people to look at: the picture, as a PNG (matplotlib) and as
an HTML page (inline SVG + a few lines of JS, works offline): consumption against the tier lines,
per SKU, drawn from the `Timeline`.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stockpulse.domain.events import MINUTE_MS
from stockpulse_local.progress import clock_text, utc_offset
from stockpulse_local.report import Report, SkuReport
from stockpulse_local.timeline import TIERS, Sample, Timeline

LINE_COLOURS = {"yellow": "#e0b000", "orange": "#f07800", "red": "#d62020"}
CONSUMPTION_COLOUR = "#1f4e9c"
AVAILABLE_COLOUR = "#7a7a7a"
LEDGER = ("on_hand", "held", "reserved", "sold", "available")


# -- the picture: PNG --------------------------------------------------------------------------
def write_png(timeline: Timeline, report: Report, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    skus = list(report.skus)
    start, end = timeline.span
    tz = timeline.tz
    rows = max(1, len(skus))
    fig, axes = plt.subplots(rows, 1, figsize=(11, 2.9 * rows + 0.6), sharex=True, squeeze=False)
    minutes = FuncFormatter(lambda x, _pos: clock_text(start + int(x * MINUTE_MS), tz, seconds=False))
    for ax, sku_id in zip(axes[:, 0], skus, strict=True):
        series = timeline.samples.get(sku_id, [])
        xs = [(s.t_ms - start) / MINUTE_MS for s in series] + [(end - start) / MINUTE_MS]
        last = series[-1] if series else None

        def extend(values: list[float], last_value: float) -> list[float]:
            return [*values, last_value]

        consumption = extend([s.consumption for s in series], last.consumption if last else 0)
        available = extend([s.available for s in series], last.available if last else 0)
        for tier in TIERS:
            ys = extend([s.line(tier) for s in series], last.line(tier) if last else 0)
            ax.step(xs, ys, where="post", color=LINE_COLOURS[tier], lw=1.2, ls="--", label=f"{tier} line")
        ax.step(xs, available, where="post", color=AVAILABLE_COLOUR, lw=1, alpha=0.7, label="available")
        ax.step(xs, consumption, where="post", color=CONSUMPTION_COLOUR, lw=2, label="consumption")
        for lo, hi in _paused_spans(series, end):
            ax.axvspan((lo - start) / MINUTE_MS, (hi - start) / MINUTE_MS, color="#999999", alpha=0.15, lw=0)
        for tier, at in report.skus[sku_id].alert_times():
            state = timeline.at(sku_id, at) or last
            y = state.consumption if state else 0
            ax.plot(
                [(at - start) / MINUTE_MS], [y], marker="v", ms=9, color=LINE_COLOURS.get(tier, "k"), mec="k"
            )
            ax.annotate(
                clock_text(at, tz),
                ((at - start) / MINUTE_MS, y),
                textcoords="offset points",
                xytext=(4, 6),
                fontsize=7,
            )
        final = report.skus[sku_id]
        ax.set_title(
            f"{sku_id}: tier {final.tier}{' (paused)' if final.paused else ''}, "
            f"sold {final.sold}, available {final.available}",
            fontsize=10,
            loc="left",
        )
        ax.set_ylabel("units")
        ax.grid(alpha=0.25)
        ax.set_xlim(0, (end - start) / MINUTE_MS)
        ax.set_ylim(bottom=0)
    axes[0, 0].legend(loc="upper left", fontsize=7, ncol=5)
    axes[-1, 0].xaxis.set_major_formatter(minutes)
    axes[-1, 0].set_xlabel(f"virtual time ({utc_offset(tz)})")
    fig.suptitle(
        f"{timeline.scenario.plan.session.session_id}: consumption against the tier lines", fontsize=12
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _paused_spans(series: Sequence[Sample], end: int) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    since: int | None = None
    for s in series:
        if s.paused and since is None:
            since = s.t_ms
        elif not s.paused and since is not None:
            spans.append((since, s.t_ms))
            since = None
    if since is not None:
        spans.append((since, end))
    return spans


# -- the picture: HTML (inline SVG + a few lines of JS, works offline) --------------------------
W, H, PAD_L, PAD_R, PAD_T, PAD_B = 920, 250, 56, 16, 28, 30
MAX_POINTS = 4000


@dataclass(frozen=True)
class _Frame:
    """Virtual time and units to SVG coordinates for one SKU's chart."""

    start: int
    end: int
    top: float

    def x(self, t: int) -> float:
        return PAD_L + (W - PAD_L - PAD_R) * (t - self.start) / max(1, self.end - self.start)

    def y(self, v: float) -> float:
        return PAD_T + (H - PAD_T - PAD_B) * (1 - v / self.top)

    def steps(self, points: Sequence[Sample], values: Sequence[float]) -> str:
        d = [f"M{self.x(points[0].t_ms):.1f},{self.y(values[0]):.1f}"]
        d += [f"H{self.x(p.t_ms):.1f}V{self.y(v):.1f}" for p, v in zip(points[1:], values[1:], strict=True)]
        return "".join(d)


def _svg(
    timeline: Timeline, sku_id: str, final: SkuReport, series: list[Sample]
) -> tuple[str, dict[str, Any]]:
    start, end = timeline.span
    tz = timeline.tz
    last = series[-1]
    points = [*series, Sample(**{**last.__dict__, "t_ms": end})]
    top = max([1.0] + [max(p.consumption, p.available, p.line("red")) for p in points])
    f = _Frame(start, end, _nice(top * 1.08))
    plot_h = H - PAD_T - PAD_B
    parts = [f'<svg viewBox="0 0 {W} {H}" class="chart" data-sku="{html.escape(sku_id)}">']
    for lo, hi in _paused_spans(series, end):
        parts.append(
            f'<rect x="{f.x(lo):.1f}" y="{PAD_T}" width="{max(1.0, f.x(hi) - f.x(lo)):.1f}" '
            f'height="{plot_h}" fill="#999" opacity="0.15"><title>paused</title></rect>'
        )
    for k in range(5):  # horizontal grid
        v = f.top * k / 4
        parts.append(
            f'<line x1="{PAD_L}" x2="{W - PAD_R}" y1="{f.y(v):.1f}" y2="{f.y(v):.1f}" class="grid"/>'
            f'<text x="{PAD_L - 6}" y="{f.y(v) + 4:.1f}" class="axis" text-anchor="end">{v:g}</text>'
        )
    for t in _ticks(start, end):
        parts.append(
            f'<line x1="{f.x(t):.1f}" x2="{f.x(t):.1f}" y1="{PAD_T}" y2="{H - PAD_B}" class="grid"/>'
            f'<text x="{f.x(t):.1f}" y="{H - PAD_B + 16}" class="axis" text-anchor="middle">'
            f"{clock_text(t, tz, seconds=False)}</text>"
        )
    lines = [(f"{tier} line", LINE_COLOURS[tier], "tline", [p.line(tier) for p in points]) for tier in TIERS]
    lines.append(("available", AVAILABLE_COLOUR, "avail", [float(p.available) for p in points]))
    lines.append(("consumption", CONSUMPTION_COLOUR, "cons", [float(p.consumption) for p in points]))
    for title, colour, css, values in lines:
        parts.append(
            f'<path d="{f.steps(points, values)}" stroke="{colour}" class="line {css}">'
            f"<title>{title}</title></path>"
        )
    parts.append(
        f'<rect class="hover" x="{PAD_L}" y="{PAD_T}" width="{W - PAD_L - PAD_R}" height="{plot_h}" '
        'fill="transparent"/>'
    )
    for tier, at in final.alert_times():
        state = timeline.at(sku_id, at) or last
        parts.append(
            f'<circle cx="{f.x(at):.1f}" cy="{f.y(state.consumption):.1f}" r="6" '
            f'fill="{LINE_COLOURS.get(tier, "#000")}" stroke="#000">'
            f"<title>{tier.upper()} alert at {clock_text(at, tz)}</title></circle>"
        )
    parts.append(
        f'<line class="cursor" x1="0" x2="0" y1="{PAD_T}" y2="{H - PAD_B}" visibility="hidden" '
        'pointer-events="none"/></svg>'
    )
    data = {
        "x": [round(f.x(p.t_ms), 1) for p in points],
        "t": [clock_text(p.t_ms, tz) for p in points],
        "c": [p.consumption for p in points],
        "r": [p.reserved for p in points],
        "s": [p.sold for p in points],
        "a": [p.available for p in points],
        "f": [round(p.effective_forecast, 2) for p in points],
        "tier": [p.tier for p in points],
        "p": [p.paused for p in points],
    }
    return "".join(parts), data


def write_html(timeline: Timeline, report: Report, path: Path) -> Path:
    start, end = timeline.span
    tz = timeline.tz
    session = timeline.scenario.plan.session
    charts: list[str] = []
    data: dict[str, Any] = {}
    for sku_id, final in report.skus.items():
        series = _thin(timeline.samples.get(sku_id, []))
        if not series:
            continue
        svg, data[sku_id] = _svg(timeline, sku_id, final, series)
        alerts = ", ".join(f"{t} {clock_text(at, tz)}" for t, at in final.alert_times()) or "none"
        paused = " <span class=paused>paused</span>" if final.paused else ""
        ledger = " · ".join(f"{k} {getattr(final, k)}" for k in LEDGER)
        charts.append(
            f'<section><h2>{html.escape(sku_id)} <span class="tier t-{final.tier}">{final.tier}</span>'
            f"{paused}</h2>"
            f'<p class="ledger">{ledger} · alerts: {html.escape(alerts)}</p>'
            f'<div class="wrap">{svg}<div class="tip"></div></div></section>'
        )
    events = report.events
    counts = (
        f"{events.processed} processed, {events.duplicate} duplicate, "
        f"{sum(events.rejected.values())} rejected"
    )
    body = PAGE.format(
        title=html.escape(f"stockpulse · {session.session_id}"),
        heading=html.escape(session.session_id),
        period=html.escape(
            f"{clock_text(start, tz, seconds=False)}-{clock_text(end, tz, seconds=False)} ({utc_offset(tz)})"
        ),
        events=html.escape(f"{counts}; invariant violations: {report.invariant_violations}"),
        charts="\n".join(charts),
        data=json.dumps(data, separators=(",", ":")).replace("</", "<\\/"),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body, encoding="utf-8")
    return path


def _thin(series: list[Sample]) -> list[Sample]:
    """Keep at most MAX_POINTS points (every n-th, the last one always)."""
    if len(series) <= MAX_POINTS:
        return series
    step = -(-len(series) // MAX_POINTS)
    return [*series[::step], series[-1]] if (len(series) - 1) % step else series[::step]


def _nice(value: float) -> float:
    for unit in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10_000):
        if value <= unit * 4:
            return float(unit * 4)
    return float(int(value) + 1)


def _ticks(start: int, end: int) -> list[int]:
    span_min = (end - start) / MINUTE_MS
    every = next((m for m in (5, 10, 15, 30, 60, 120, 240) if span_min / m <= 10), 480) * MINUTE_MS
    first = start - start % every + (every if start % every else 0)
    return list(range(first, end + 1, every))


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{{font:14px system-ui,sans-serif;margin:24px;color:#222;max-width:980px}}
h1{{font-size:20px;margin:0 0 4px}} h2{{font-size:16px;margin:18px 0 2px}}
.meta,.ledger{{color:#555;margin:2px 0}}
.wrap{{position:relative}} svg.chart{{width:100%;height:auto;background:#fff;border:1px solid #e4e4e4}}
.grid{{stroke:#eee}} .axis{{font-size:11px;fill:#777}}
.line{{fill:none;stroke-width:1.4}} .tline{{stroke-dasharray:6 4}}
.cons{{stroke-width:2.4}} .avail{{opacity:.6}}
.cursor{{stroke:#444;stroke-dasharray:2 3}}
.tip{{position:absolute;pointer-events:none;background:rgba(255,255,255,.95);border:1px solid #bbb;
 padding:4px 8px;font-size:12px;display:none;white-space:nowrap;box-shadow:0 1px 4px rgba(0,0,0,.15)}}
.t-none{{background:#e6f4e6}} .t-yellow{{background:#fff3bf}} .t-orange{{background:#ffd8a8}}
.t-red{{background:#ffc9c9}} span.tier,.paused{{font-size:12px;padding:1px 6px;border-radius:8px}}
.paused{{background:#ddd}}
.legend span{{margin-right:14px}}
.legend i{{display:inline-block;width:18px;height:3px;vertical-align:middle;margin-right:4px}}
</style></head><body>
<h1>{heading}</h1>
<p class="meta">{period} · {events}</p>
<p class="legend"><span><i style="background:#1f4e9c"></i>consumption (reserved + sold)</span>
<span><i style="background:#7a7a7a"></i>available</span><span><i style="background:#e0b000"></i>yellow</span>
<span><i style="background:#f07800"></i>orange</span><span><i style="background:#d62020"></i>red line</span>
<span>● alert</span></p>
{charts}
<script>
const DATA = {data};
for (const svg of document.querySelectorAll("svg.chart")) {{
  const d = DATA[svg.dataset.sku], tip = svg.parentNode.querySelector(".tip");
  const cursor = svg.querySelector(".cursor"), hover = svg.querySelector(".hover");
  hover.addEventListener("mousemove", ev => {{
    const box = svg.getBoundingClientRect(), scale = svg.viewBox.baseVal.width / box.width;
    const vx = (ev.clientX - box.left) * scale;
    let lo = 0, hi = d.x.length - 1;
    while (lo < hi) {{ const mid = (lo + hi + 1) >> 1; if (d.x[mid] <= vx) lo = mid; else hi = mid - 1; }}
    const i = Math.min(lo, d.x.length - 1);
    cursor.setAttribute("x1", vx); cursor.setAttribute("x2", vx);
    cursor.setAttribute("visibility", "visible");
    tip.innerHTML = `<b>${{d.t[i]}}</b> tier ${{d.tier[i]}}${{d.p[i] ? " (paused)" : ""}}<br>` +
      `consumption ${{d.c[i]}} (reserved ${{d.r[i]}}, sold ${{d.s[i]}})<br>available ${{d.a[i]}} · ` +
      `effective forecast ${{d.f[i]}}`;
    tip.style.display = "block";
    const left = ev.clientX - box.left + 14;
    tip.style.left = (left + tip.offsetWidth > box.width ? left - tip.offsetWidth - 28 : left) + "px";
    tip.style.top = (ev.clientY - box.top + 10) + "px";
  }});
  hover.addEventListener("mouseleave", () => {{
    tip.style.display = "none"; cursor.setAttribute("visibility", "hidden");
  }});
}}
</script>
</body></html>
"""
