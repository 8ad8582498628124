"""Alert texts: one notice rendered for each kind of reader. Pure.

- `render(notice)`: titles and one-paragraph texts (Chinese, English), the action and the facts
  on their own (for IM layouts), and the one-segment SMS (`sms_zh`, at most 70 UCS-2 units).
- `email_subject(notice)`, `email_body(notice)`: the e-mail channel: a clean subject (no control
  characters, at most 99 characters, never empty) and a plain-text body of labelled lines,
  Chinese first, then English.
- `restock_subject(notice)`, `restock_request(notice)`: the supply-chain topic's restock request.

Every text says what to do, per kind:
- ALERT / REPEAT: the tier's action, tailored: a restock quantity is named only when above zero
  (a yellow with nothing to restock says "watch" / "关注", never "restock 0"; with no number yet
  while its ETA says it sells out in the show, "prepare a restock", never "none needed"); a stock-risk alert
  explains the sell-out ETA ("at this pace sells out in ~8 min"), a consumption alert compares
  consumption with the forecast. A repeat says the tier still stands.
- RESOLVED: which tier was resolved (previous tier -> tier) and what the lower tier asks.
- SOLD_OUT: that it sold out (once) and what to do: restock and resume, or take the link down.
- PRE_SHOW: the sellable stock (on hand - held) against the pre-show warning line, and the units
  to add before the show.
- SLOW: a tip for the host: add interaction (the SKU sells under its expected band).

Product names (and ids, platform names) are untrusted: a shop types them. Every renderer here
goes through `clean_text` (no control, format or line-separator characters, whitespace
collapsed, URLs defanged, length bounded), and IM markup through `for_markup`, which also turns
every markdown, HTML and mention character of those fields into its full-width form.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from stockpulse.domain.alerts import AlertNotice, NoticeKind
from stockpulse.domain.tiers import TIER_ACTIONS_EN, TIER_ACTIONS_ZH, Tier

SMS_MAX_UCS2 = 70  # one SMS segment once any Chinese character forces UCS-2
SUBJECT_MAX = 99  # SNS refuses subjects of 100 characters or more (counted here in UCS-2 units)
NAME_MAX = 80  # a product name in titles and texts (UCS-2 units); the SMS fits its own
ID_MAX = 128  # ids are bounded upstream; this only keeps an absurd one from flooding a text
FALLBACK_SUBJECT = "stockpulse alert"

TIER_EN = {Tier.NONE: "normal", Tier.YELLOW: "YELLOW", Tier.ORANGE: "ORANGE", Tier.RED: "RED"}
TIER_ZH = {Tier.NONE: "正常", Tier.YELLOW: "黄色", Tier.ORANGE: "橙色", Tier.RED: "红色"}
NO_ACTION_EN = "Back to normal: no action needed."
NO_ACTION_ZH = "恢复正常，无需操作。"
# A consumption red whose stock lasts the show at this pace (en, zh, SMS).
RED_STOCK_LASTS = (
    "Well past the forecast, but at this pace the stock lasts the show: no need to stop selling; "
    "call the supplier to restock for later.",
    "已超预测，但按当前速度库存够卖到本场结束：不必停售，联系供应链补货备用。",
    "不必停售，联系供应链补货备用。",
)
# An orange that stands (raised, repeated, or a red stepped down to it) on a SKU whose stock lasts
# the show at this pace: "slow the pitch" would only lose sales.
ORANGE_STOCK_LASTS = (
    "At this pace the stock lasts the show: the host need not slow the pitch; ops: keep watching the stock.",
    "按当前速度库存够卖到本场结束：主播无需放缓节奏，运营关注库存。",
    "无需放缓节奏，关注库存。",
)
# The words of a tier that asks nothing urgent (`stock_lasts`), by tier.
STOCK_LASTS = {Tier.ORANGE: ORANGE_STOCK_LASTS, Tier.RED: RED_STOCK_LASTS}


def _calm_action(tier: Tier, restock: int) -> tuple[str, str, str]:
    """STOCK_LASTS (`tier`: orange or red) naming a restock where there is one: a projection
    still held (a stock-risk warning stepping down) may ask for units the current pace does not,
    and "slow the pitch" or "stop selling" beside "lasts the show" is what a reader must not get
    (a rehearsal's red stepped down to orange read "主播放缓节奏，运营确认补货8件…本场内不会售罄")."""
    if restock <= 0:
        return STOCK_LASTS[tier]
    if tier is Tier.ORANGE:
        return (
            f"At this pace the stock lasts the show: the host need not slow the pitch; ops: confirm the "
            f"restock of {restock} units.",
            f"按当前速度库存够卖到本场结束：主播无需放缓节奏，运营确认补货{restock}件。",
            "无需放缓节奏，确认补货。",
        )
    return (
        "Well past the forecast, but at this pace the stock lasts the show: no need to stop selling; "
        f"call the supplier to restock {restock} units for later.",
        f"已超预测，但按当前速度库存够卖到本场结束：不必停售，联系供应链补货{restock}件备用。",
        "不必停售，联系供应链补货备用。",
    )


Lang = Literal["en", "zh"]


@dataclass(frozen=True)
class RenderedAlert:
    title_en: str
    text_en: str  # title, action and facts in one paragraph
    title_zh: str
    text_zh: str
    sms_zh: str  # at most SMS_MAX_UCS2 UCS-2 units
    action_en: str = ""
    action_zh: str = ""
    facts_en: str = ""
    facts_zh: str = ""


# ------------------------------------------------------------------------ untrusted text
_DROP_CATEGORIES = frozenset({"Cf", "Cs", "Co", "Cn"})  # format (bidi, zero-width), surrogates, ...
_SPACE_CATEGORIES = frozenset({"Cc", "Zl", "Zp", "Zs"})  # controls (CR, LF, TAB, ...) and separators
_URL_SCHEME = re.compile(r"://")
# A dot between a letter or digit and a letter ("www.shop", "evil.com"): a phone or IM client
# makes a link of it, with or without a space before it ("抢购evil.com"); decimals stay.
_DOMAIN_DOT = re.compile(r"(?<=[0-9A-Za-z])\.(?=[A-Za-z])")
_FULLWIDTH_COLON = chr(0xFF1A)
_FULLWIDTH_DOT = chr(0xFF0E)
# Markdown (DingTalk, WeCom, Slack mrkdwn: emphasis, code, links, images, headings, tables),
# HTML / <font> / <at> tags, mentions (@138..., @all, <@id>, <!channel>), entities: each becomes
# its full-width twin (U+FF01..U+FF5E = ASCII + 0xFEE0). Line-start syntax (-, +, =, >, 1.)
# cannot occur: an untrusted field never contains a line break and never starts a line.
_MARKUP_CHARS = "\\`*_[]()#!|<>~@&"
_MARKUP = str.maketrans({c: chr(ord(c) + 0xFEE0) for c in _MARKUP_CHARS})


def ucs2_units(text: str) -> int:
    """SMS length in UCS-2 code units (a character outside the BMP takes two)."""
    return len(text.encode("utf-16-le", errors="surrogatepass")) // 2


_ZWJ = "\u200d"


def _regional(char: str) -> bool:
    return 0x1F1E6 <= ord(char) <= 0x1F1FF  # a flag is two of these


def _extends(char: str) -> bool:
    """`char` belongs to the character before it: a combining mark (an accent, an emoji's
    variation selector), a skin tone, or the joiner of an emoji sequence."""
    return char == _ZWJ or unicodedata.category(char).startswith("M") or 0x1F3FB <= ord(char) <= 0x1F3FF


def _cut(text: str, keep: int) -> int:
    """`keep` characters of `text`, fewer where the cut would split what a reader sees as one
    (an accented letter, an emoji sequence, a flag)."""
    while 0 < keep < len(text) and (_extends(text[keep]) or text[keep - 1] == _ZWJ):
        keep -= 1
    if 0 < keep < len(text) and _regional(text[keep]):
        run = 0
        while run < keep and _regional(text[keep - 1 - run]):
            run += 1
        keep -= run % 2  # never half a flag
    return keep


def _truncate(text: str, limit: int) -> str:
    """At most `limit` UCS-2 units, ending with an ellipsis when shortened, never inside a
    character as a reader sees it."""
    if ucs2_units(text) <= limit:
        return text
    keep, used = 0, 1  # room for the ellipsis
    for char in text:
        used += ucs2_units(char)
        if used > limit:
            break
        keep += 1
    return text[: _cut(text, keep)] + "…" if limit > 0 else ""


def _joins_emoji(before: list[str], after: str) -> bool:
    """A zero-width joiner between two emoji (👩‍👧, 🏳️‍🌈) is part of the picture, not a hidden
    character: kept. Any other format character goes, and so does a joiner anywhere else."""
    if not before or not after:
        return False
    last = before[-1] if before[-1] != "\ufe0f" or len(before) < 2 else before[-2]
    return unicodedata.category(last) == "So" and unicodedata.category(after) == "So"


def clean_text(text: str, limit: int | None = None) -> str:
    """One safe line from untrusted text: control and line-separator characters become spaces,
    format characters (bidi overrides, zero-width) and unassigned code points go, whitespace
    collapses, URLs are defanged (`://` and a domain's dots in full-width, so nothing autolinks),
    and the result is at most `limit` UCS-2 units."""
    chars: list[str] = []
    for i, char in enumerate(text):
        category = unicodedata.category(char)
        if category in _SPACE_CATEGORIES or char.isspace():
            chars.append(" ")
        elif category not in _DROP_CATEGORIES or (char == _ZWJ and _joins_emoji(chars, text[i + 1 : i + 2])):
            chars.append(char)
    line = " ".join("".join(chars).split())
    line = _URL_SCHEME.sub(_FULLWIDTH_COLON + "//", line)
    line = _DOMAIN_DOT.sub(_FULLWIDTH_DOT, line)
    return _truncate(line, limit) if limit is not None else line


def markup_safe(text: str, limit: int | None = None) -> str:
    """`clean_text`, then every markup / mention character in its full-width form: safe inside
    DingTalk and WeCom markdown, Feishu text (<at>) and Slack mrkdwn, and still readable."""
    return clean_text(text, limit).translate(_MARKUP)


def for_markup(notice: AlertNotice) -> AlertNotice:
    """The notice with every untrusted string made `markup_safe` (name, ids, platform names):
    render this copy for IM markdown. Numbers and kinds are untouched."""
    return notice.model_copy(
        update={
            "sku_name": markup_safe(notice.sku_name, NAME_MAX),
            "sku_id": markup_safe(notice.sku_id, ID_MAX),
            "session_id": markup_safe(notice.session_id, ID_MAX),
            "alert_id": markup_safe(notice.alert_id, ID_MAX),
            "platform_split": {markup_safe(k, ID_MAX): v for k, v in notice.platform_split.items()},
        }
    )


def sanitize_subject(text: str, limit: int = SUBJECT_MAX) -> str:
    """A subject SNS accepts: one line, no control characters, at most `limit` units, not empty."""
    return clean_text(text, limit) or FALLBACK_SUBJECT


# ------------------------------------------------------------------------------- numbers
WHOLE_MAX = 1_000_000_000


def _number(value: float) -> str:
    """A pace for people: one decimal; a slow one (under 0.1) in hundredths, never "0" for a SKU
    that sells; whole numbers, never exponents, for huge ones."""
    if not math.isfinite(value) or value <= 0:
        return "0"
    if value < 0.1:
        return f"{max(0.01, math.ceil(value * 100) / 100):.2f}"
    if value >= 1_000_000:
        return _whole(value)
    return f"{value:.1f}".removesuffix(".0")


def _whole(value: float) -> str:
    """A finite, positive count rounded to a whole number; absurd ones capped, not in exponents."""
    return str(math.floor(value + 0.5)) if value < WHOLE_MAX else f"{WHOLE_MAX - 1}+"


def _forecast(notice: AlertNotice) -> str:
    """The forecast in whole units: people count units (the effective forecast is fractional
    after a restock or a dynamic lift; the percentages use it exactly)."""
    value = notice.forecast
    if not math.isfinite(value) or value <= 0:
        return "0"
    return _whole(value)


def _units(value: float) -> int:
    """A count of units from a float that may be absurd (inf, nan, negative)."""
    if not math.isfinite(value) or value <= 0:
        return 0
    return math.ceil(value - 1e-9)


EtaKind = Literal["sold_out", "paused", "no_sales", "lasts_the_show", "in_show"]


def _eta_kind(notice: AlertNotice) -> EtaKind:
    """What the notice's ETA says: sold out already, paused (nothing sells, whatever the pace
    was), no sales to time, the stock lasts the show ("sells out in 38 min" with 4 minutes of
    show left misleads), or it sells out in the show."""
    eta, left = notice.sell_out_eta_minutes, notice.show_minutes_left
    if notice.available <= 0:
        return "sold_out"
    if notice.paused:
        return "paused"
    if eta is None or not math.isfinite(eta) or eta < 0:
        return "no_sales"
    if left is not None and eta > left:
        return "lasts_the_show"
    return "in_show"


def _eta(notice: AlertNotice) -> tuple[str, str, str, str]:
    """Sell-out ETA: (English phrase, Chinese phrase, English value, Chinese value)."""
    kind = _eta_kind(notice)
    if kind == "sold_out":
        return "sold out", "已售罄", "sold out", "已售罄"
    if kind == "paused":
        return "selling is paused", "暂停售卖中", "paused", "暂停售卖中"
    if kind == "no_sales":
        return "no sales right now", "暂无销量", "no sales right now", "暂无销量"
    if kind == "lasts_the_show":
        return "lasts to the end of the show", "本场内不会售罄", "after the show", "本场结束后"
    eta = notice.sell_out_eta_minutes
    assert eta is not None
    if eta < 1:
        return "sells out in <1 min", "不到1分钟售罄", "<1 min", "不到1分钟"
    if eta < 120:
        minutes = int(eta + 0.5)
        return f"sells out in ~{minutes} min", f"约{minutes}分钟售罄", f"~{minutes} min", f"约{minutes}分钟"
    hours = int(eta / 60 + 0.5)
    if hours > 99:
        return "sells out in more than 99 h", "99小时以上售罄", "more than 99 h", "99小时以上"
    return f"sells out in ~{hours} h", f"约{hours}小时售罄", f"~{hours} h", f"约{hours}小时"


def _percent(notice: AlertNotice) -> int | None:
    """Consumption as a percentage of the effective forecast (None without a usable forecast)."""
    forecast = notice.forecast
    if not math.isfinite(forecast) or forecast <= 0:
        return None
    ratio = notice.consumption * 100 / forecast
    return int(ratio + 0.5) if math.isfinite(ratio) and abs(ratio) < 1e12 else None


def _split(notice: AlertNotice) -> str:
    parts = sorted(notice.platform_split.items(), key=lambda kv: (-kv[1], kv[0]))
    return " / ".join(f"{clean_text(platform, ID_MAX)} {units}" for platform, units in parts)


def _sellable(notice: AlertNotice) -> int:
    return notice.on_hand - notice.held


def _line(notice: AlertNotice) -> int | None:
    line = notice.warning_line
    return _units(line) if line is not None and math.isfinite(line) and line > 0 else None


def _time(notice: AlertNotice) -> str:
    at = notice.at
    if at.utcoffset() is None:
        return f"{at:%Y-%m-%d %H:%M:%S}"
    if at.utcoffset() == timedelta(0):
        return f"{at:%Y-%m-%d %H:%M:%S} UTC"
    return at.isoformat(sep=" ", timespec="seconds")


# ------------------------------------------------------------------------------- actions
def action_for(tier: Tier, lang: Lang = "en") -> str:
    """What people should do at this tier (generic; `action_text` tailors it to a notice)."""
    if lang == "zh":
        return TIER_ACTIONS_ZH.get(tier, NO_ACTION_ZH)
    return TIER_ACTIONS_EN.get(tier, NO_ACTION_EN)


def _tier_action(
    tier: Tier, restock: int, stock_risk: bool, eta: EtaKind, paused: bool
) -> tuple[str, str, str]:
    """(English, Chinese, SMS) action for a tier that stands (alert, repeat, resolved to it).

    `eta`: what the ETA beside the action says. When it says the SKU sells out in the show and
    there is no restock number (no measured pace yet, e.g. an opening flash), the action still
    says to prepare one: "no restock needed" beside "sells out in under a minute" is what a
    reader must not get. A red says "stop selling" only when that is the reader's to do: not
    once selling is paused (auto-pause did it), nor when the stock lasts the show at this pace
    and nothing is to be restocked (consumption past 120% of the plan with stock to spare:
    stopping would only lose the sales the stock was there for). Below red while paused, the
    step left is to resume selling: a restock that came before the resume must not read as
    "back to normal" beside a sale that is still stopped. Back to normal beside "sells out in ~29
    min" with an hour of show left says "nothing to do now, keep an eye on the stock", not "no
    action needed": the lines and the stock risk judge the pace as fading, the ETA does not.
    """
    sells_out = eta == "in_show"
    if tier is Tier.RED and paused:
        if restock > 0:
            return (
                f"Selling is paused: call the supplier now to restock {restock} units.",
                f"已暂停售卖：立即联系供应链补货{restock}件。",
                "立即联系供应链。",
            )
        return (
            "Selling is paused: call the supplier now.",
            "已暂停售卖：立即联系供应链。",
            "立即联系供应链。",
        )
    if tier is Tier.RED and stock_risk:
        if restock > 0:
            return (
                f"Sell-out imminent: call the supply chain now to restock {restock} units, "
                "and be ready to take the link down.",
                f"即将售罄：立即联系供应链补货{restock}件，准备下架链接。",
                "立即联系供应链，准备下架。",
            )
        return (
            "Sell-out imminent: call the supply chain now and be ready to take the link down.",
            "即将售罄：立即联系供应链，准备下架链接。",
            "立即联系供应链，准备下架。",
        )
    if tier is Tier.RED:
        if eta == "lasts_the_show":
            return _calm_action(tier, restock)
        if restock > 0:
            return (
                f"Stop selling and call the supplier now: restock {restock} units.",
                f"停止售卖，立即联系供应链补货{restock}件。",
                "停止售卖，立即联系供应链。",
            )
        return (TIER_ACTIONS_EN[Tier.RED], TIER_ACTIONS_ZH[Tier.RED], TIER_ACTIONS_ZH[Tier.RED])
    if paused:  # below red while paused (a restock came before the resume): selling is the step left
        if restock > 0:
            return (
                f"Selling is still paused: resume it when ready; restock {restock} more units.",
                f"仍在暂停售卖：确认库存后恢复售卖，再补货{restock}件。",
                "仍在暂停，确认后恢复售卖。",
            )
        return (
            "Selling is still paused: resume it when ready.",
            "仍在暂停售卖：确认库存后恢复售卖。",
            "仍在暂停，确认后恢复售卖。",
        )
    if tier is Tier.ORANGE:
        if eta == "lasts_the_show":
            return _calm_action(tier, restock)
        if restock > 0:
            return (
                f"Host: slow the pitch and pace; ops: confirm the restock of {restock} units.",
                f"主播放缓节奏，运营确认补货{restock}件。",
                "主播放缓节奏，运营确认补货。",
            )
        if sells_out:
            return (
                "Host: slow the pitch and pace; ops: prepare a restock.",
                "主播放缓节奏，运营准备补货。",
                "主播放缓节奏，准备补货。",
            )
        return (
            "Host: slow the pitch and pace; ops: watch the stock closely.",
            "主播放缓节奏，运营密切关注库存。",
            "主播放缓节奏，密切关注。",
        )
    if tier is Tier.YELLOW:
        if restock > 0:
            return (
                f"Watch closely and prepare a restock of {restock} units.",
                f"密切关注，准备补货{restock}件。",
                "准备补货。",
            )
        if sells_out:
            return (
                "Watch closely and prepare a restock (at this pace it sells out before the show ends).",
                "密切关注，准备补货（按当前速度本场内会售罄）。",
                "密切关注，准备补货。",
            )
        return (
            "Watch closely; no restock needed yet.",
            "密切关注，暂不需补货。",
            "密切关注。",
        )
    if sells_out:  # back under every line, yet the pace beside it runs out before the show ends
        return (
            "Back to normal: nothing to do now; keep an eye on the stock (at this pace it sells out "
            "before the show ends).",
            "恢复正常，暂无需操作；按当前速度本场内会售罄，留意库存。",
            "暂无需操作，留意库存。",
        )
    return (NO_ACTION_EN, NO_ACTION_ZH, "无需操作。")


def stock_lasts(notice: AlertNotice) -> bool:
    """The notice's orange or red asks nothing urgent: at this pace its stock lasts the show
    (STOCK_LASTS: "no need to slow the pitch", "no need to stop selling", with the restock to
    confirm where one is named). Such a red does not page and is not repeated."""
    restock, kind = max(notice.restock_quantity, 0), notice.kind
    standing = (NoticeKind.ALERT, NoticeKind.REPEAT, NoticeKind.RESOLVED)
    if notice.tier not in STOCK_LASTS or kind not in standing:
        return False
    calm = _calm_action(notice.tier, restock)
    stock_risk = notice.stock_risk and kind is not NoticeKind.RESOLVED
    return _tier_action(notice.tier, restock, stock_risk, _eta_kind(notice), notice.paused) == calm


def _action(notice: AlertNotice) -> tuple[str, str, str]:
    """(English, Chinese, SMS) action for this notice."""
    restock = max(notice.restock_quantity, 0)
    kind = notice.kind
    if kind is NoticeKind.SOLD_OUT:
        if restock > 0:
            return (
                f"Restock {restock} units and resume selling, or take the link down.",
                f"补货{restock}件后恢复售卖，或下架链接。",
                f"补货{restock}件后恢复或下架链接。",
            )
        return (
            "Restock and resume selling, or take the link down.",
            "补货后恢复售卖，或下架链接。",
            "补货后恢复或下架链接。",
        )
    if kind is NoticeKind.PRE_SHOW:
        if restock > 0:
            return (
                f"Add {restock} units before the show.",
                f"建议开播前补货{restock}件。",
                f"开播前补货{restock}件。",
            )
        return ("Check the stock before the show.", "开播前核对库存。", "开播前核对库存。")
    if kind is NoticeKind.SLOW:
        return (
            "Host: add interaction (demo the product, offer a perk, invite orders).",
            "主播增加互动：讲解卖点、发放福利，引导下单。",
            "主播增加互动。",
        )
    stock_risk = notice.stock_risk and kind is not NoticeKind.RESOLVED
    en, zh, sms = _tier_action(notice.tier, restock, stock_risk, _eta_kind(notice), notice.paused)
    if kind is NoticeKind.REPEAT:  # the tier still stands (the English title says "Still ORANGE")
        return en, f"仍为{TIER_ZH[notice.tier]}，{zh}", sms
    return en, zh, sms


def action_text(notice: AlertNotice, lang: Lang = "en") -> str:
    """What to do about this notice, in one sentence."""
    en, zh, _ = _action(notice)
    return zh if lang == "zh" else en


# --------------------------------------------------------------------------------- facts
def _label(notice: AlertNotice, lang: Lang) -> str:
    name, sku_id = clean_text(notice.sku_name, NAME_MAX), clean_text(notice.sku_id, ID_MAX)
    if not name:
        return sku_id
    return f"{name}（{sku_id}）" if lang == "zh" else f"{name} ({sku_id})"


def _facts(notice: AlertNotice) -> tuple[str, str]:
    """(English, Chinese) facts in prose."""
    a, v, c = notice.available, _number(notice.velocity_per_minute), notice.consumption
    eta_en, eta_zh, _, _ = _eta(notice)
    split = _split(notice)
    pct = _percent(notice)
    forecast = _forecast(notice)
    kind = notice.kind
    if kind is NoticeKind.PRE_SHOW:
        line = _line(notice)
        s = _sellable(notice)
        under_en = f"under the pre-show warning line of {line}" if line else "under the pre-show warning line"
        under_zh = f"低于预警线{line}件" if line else "低于开播预警线"
        en, zh = f"Sellable stock {s} units, {under_en}", f"可售{s}件，{under_zh}"
        if pct is not None:
            en, zh = f"{en} (forecast {forecast})", f"{zh}（预测{forecast}件）"
        return en + ".", zh + "，"
    if kind is NoticeKind.SLOW:
        versus_en = f" of a forecast {forecast}" if pct is not None else ""
        versus_zh = f"（预测{forecast}件）" if pct is not None else ""
        return (
            f"Consumed {c}{versus_en}, under the expected band; velocity {v} units/min.",
            f"已消耗{c}件{versus_zh}，低于预期区间，速度{v}件/分钟。",
        )
    if kind is NoticeKind.SOLD_OUT:
        versus_en = f" (forecast {forecast})" if pct is not None else ""
        versus_zh = f"（预测{forecast}件）" if pct is not None else ""
        en = f"Consumed {c}{versus_en}; last velocity {v} units/min."
        zh = f"已消耗{c}件{versus_zh}，最近速度{v}件/分钟。"
    elif notice.stock_risk and kind is not NoticeKind.RESOLVED:
        en = f"At this pace ({v} units/min) it {eta_en}; available {a}."
        zh = f"按当前速度（{v}件/分钟）{eta_zh}，可售{a}件。"
    else:
        consumption_en = f"Consumption {c} is {pct}% of the forecast {forecast}; " if pct is not None else ""
        consumption_zh = f"已消耗{c}件，达预测{forecast}件的{pct}%；" if pct is not None else ""
        en = f"{consumption_en}available {a}, velocity {v} units/min, {eta_en}."
        en = en[0].upper() + en[1:]
        zh = f"{consumption_zh}可售{a}件，速度{v}件/分钟，{eta_zh}。"
    if split:
        en, zh = f"{en} Platforms: {split}.", f"{zh}平台：{split}。"
    return en, zh


# ------------------------------------------------------------------------------- titles
def _head_zh(notice: AlertNotice) -> str:
    """The bracketed Chinese head that opens the title, the SMS and the e-mail subject."""
    kind, tier = notice.kind, notice.tier
    if kind is NoticeKind.ALERT:
        return f"【{TIER_ZH[tier]}预警】"
    if kind is NoticeKind.REPEAT:
        return f"【{TIER_ZH[tier]}持续】"
    if kind is NoticeKind.RESOLVED:
        return f"【预警{_resolution(notice)[1]}】"
    if kind is NoticeKind.SOLD_OUT:
        return "【已售罄】"
    if kind is NoticeKind.PRE_SHOW:
        return "【开播前库存不足】"
    return "【互动提示】"


def _resolution(notice: AlertNotice) -> tuple[str, str]:
    """What a resolution is called (English, Chinese): "resolved" / "解除" only back to normal; a
    step down that still asks something (red to orange: slow the pitch) is "stepped down" / "降级",
    so nobody skimming the title reads "warning lifted" and relaxes."""
    return ("Resolved", "解除") if notice.tier is Tier.NONE else ("Stepped down", "降级")


def _titles(notice: AlertNotice) -> tuple[str, str]:
    kind, tier, was = notice.kind, notice.tier, notice.previous_tier
    label_en, label_zh = _label(notice, "en"), _label(notice, "zh")
    head = _head_zh(notice)
    if kind is NoticeKind.RESOLVED:
        return (
            f"{_resolution(notice)[0]}: {label_en} now {TIER_EN[tier]} (was {TIER_EN[was]})",
            f"{head}{label_zh}：{TIER_ZH[was]}→{TIER_ZH[tier]}",
        )
    en = {
        NoticeKind.ALERT: f"{TIER_EN[tier]}: {label_en}",
        NoticeKind.REPEAT: f"Still {TIER_EN[tier]}: {label_en}",
        NoticeKind.SOLD_OUT: f"SOLD OUT: {label_en}",
        NoticeKind.PRE_SHOW: f"Pre-show stock short: {label_en}",
        NoticeKind.SLOW: f"Selling slowly: {label_en}",
    }[kind]
    return en, f"{head}{label_zh}"


def _tag_en(notice: AlertNotice) -> str:
    """The English half of the e-mail subject (the name is in the Chinese half)."""
    kind, tier = notice.kind, notice.tier
    if kind is NoticeKind.ALERT:
        if notice.stock_risk and notice.available > 0:
            return f"{TIER_EN[tier]} alert: {_eta(notice)[0]}"
        return f"{TIER_EN[tier]} alert"
    if kind is NoticeKind.REPEAT:
        return f"Still {TIER_EN[tier]}"
    if kind is NoticeKind.RESOLVED:
        return f"{_resolution(notice)[0]}: {TIER_EN[notice.previous_tier]} -> {TIER_EN[tier]}"
    if kind is NoticeKind.SOLD_OUT:
        return "SOLD OUT"
    if kind is NoticeKind.PRE_SHOW:
        return "Pre-show: stock under the warning line"
    return "Selling slowly: add interaction"


# ---------------------------------------------------------------------------------- SMS
def _fit(head: str, notice: AlertNotice, tail: str, limit: int, brackets: tuple[str, str]) -> str:
    """head + SKU label + tail within `limit` UCS-2 units: the name gives way first, then the id.
    Numbers and the action live in head and tail and are never cut (short of absurd numbers)."""
    name, sku_id = clean_text(notice.sku_name), clean_text(notice.sku_id)
    id_part = f"{brackets[0]}{sku_id}{brackets[1]}" if name else sku_id
    budget = limit - ucs2_units(head) - ucs2_units(tail)
    label = f"{name}{id_part}" if name else id_part
    if ucs2_units(label) > budget:
        room = budget - ucs2_units(id_part)
        label = _truncate(name, room) + id_part if name and room >= 2 else _truncate(sku_id, budget)
    # Last resort for absurd numbers only: a hard cut still keeps within the limit.
    return _truncate(head + label + tail, limit)


def _sms_tail(notice: AlertNotice) -> str:
    kind = notice.kind
    restock = max(notice.restock_quantity, 0)
    _, _, act = _action(notice)
    eta = _eta(notice)[1]
    parts: list[str] = []
    if kind in (NoticeKind.ALERT, NoticeKind.REPEAT):
        pct = _percent(notice)
        if not notice.stock_risk and pct is not None:
            parts.append(f"消耗{pct}%")
        parts += [f"可售{notice.available}", eta]
        if restock > 0:
            parts.append(f"补货{restock}")
    elif kind is NoticeKind.RESOLVED:
        parts += [f"{TIER_ZH[notice.previous_tier]}→{TIER_ZH[notice.tier]}", f"可售{notice.available}"]
        if restock > 0 and notice.tier is not Tier.NONE:
            parts.append(f"补货{restock}")
    elif kind is NoticeKind.PRE_SHOW:
        parts.append(f"可售{_sellable(notice)}")
        line = _line(notice)
        if line:
            parts.append(f"预警线{line}")
    elif kind is NoticeKind.SLOW:
        parts.append("销量低于预期")
    parts.append(act)
    return " " + " ".join(parts)


def _sms(notice: AlertNotice) -> str:
    return _fit(_head_zh(notice), notice, _sms_tail(notice), SMS_MAX_UCS2, ("(", ")"))


# ------------------------------------------------------------------------------ render
def render(notice: AlertNotice) -> RenderedAlert:
    title_en, title_zh = _titles(notice)
    act_en, act_zh, _ = _action(notice)
    facts_en, facts_zh = _facts(notice)
    if notice.kind is NoticeKind.PRE_SHOW:  # the facts lead to the action: "...，建议开播前补货11件。"
        text_en = f"{title_en}. {facts_en} {act_en}"
        text_zh = f"{title_zh}：{facts_zh}{act_zh}"
        facts_zh = facts_zh.removesuffix("，") + "。"
    else:
        text_en = f"{title_en}. {act_en} {facts_en}"
        sep = "。" if notice.kind is NoticeKind.RESOLVED else "："  # its title ends with "橙色→正常"
        text_zh = f"{title_zh}{sep}{act_zh}{facts_zh}"
    return RenderedAlert(
        title_en=title_en,
        text_en=text_en,
        title_zh=title_zh,
        text_zh=text_zh,
        sms_zh=_sms(notice),
        action_en=act_en,
        action_zh=act_zh,
        facts_en=facts_en,
        facts_zh=facts_zh,
    )


# ------------------------------------------------------------------------------ e-mail
def email_subject(notice: AlertNotice) -> str:
    """The SNS `Subject`: Chinese head, SKU label, English tag; the name gives way first."""
    subject = _fit(_head_zh(notice), notice, f" | {_tag_en(notice)}", SUBJECT_MAX, ("（", "）"))
    return sanitize_subject(subject)


def fact_lines(notice: AlertNotice, lang: Lang) -> list[tuple[str, str]]:
    """(label, value) lines a person reads top to bottom: what, how bad, what to do, the numbers."""
    zh = lang == "zh"
    kind, tier = notice.kind, notice.tier
    lines: list[tuple[str, str]] = [("商品" if zh else "SKU", _label(notice, lang))]
    if kind is NoticeKind.RESOLVED:
        was = notice.previous_tier
        lines.append(
            ("级别", f"{TIER_ZH[was]}→{TIER_ZH[tier]}（{_resolution(notice)[1]}）")
            if zh
            else ("Tier", f"{TIER_EN[was]} -> {TIER_EN[tier]} ({_resolution(notice)[0].lower()})")
        )
    elif kind in (NoticeKind.ALERT, NoticeKind.REPEAT) or tier is not Tier.NONE:
        basis_zh = "（按售罄预测）" if notice.stock_risk else ""
        basis_en = " (sell-out projection)" if notice.stock_risk else ""
        lines.append(("级别", f"{TIER_ZH[tier]}{basis_zh}") if zh else ("Tier", f"{TIER_EN[tier]}{basis_en}"))
    en, zh_action, _ = _action(notice)
    lines.append(("操作", zh_action) if zh else ("Action", en))
    v, pct = _number(notice.velocity_per_minute), _percent(notice)
    if kind is NoticeKind.PRE_SHOW:
        lines.append(
            ("可售（现货减锁定）", f"{_sellable(notice)}件")
            if zh
            else ("Sellable (on hand - held)", str(_sellable(notice)))
        )
        line = _line(notice)
        if line:
            lines.append(("开播预警线", f"{line}件") if zh else ("Pre-show warning line", str(line)))
        if pct is not None:
            forecast = _forecast(notice)
            lines.append(("预测销量", f"{forecast}件") if zh else ("Forecast", forecast))
    else:
        sold_out = kind is NoticeKind.SOLD_OUT
        if not sold_out:
            lines.append(("可售", f"{notice.available}件") if zh else ("Available", str(notice.available)))
        if zh:
            lines.append(("最近速度" if sold_out else "速度", f"{v}件/分钟"))
        else:
            lines.append(("Last velocity" if sold_out else "Velocity", f"{v} units/min"))
        if kind in (NoticeKind.ALERT, NoticeKind.REPEAT, NoticeKind.RESOLVED):
            _, _, eta_en, eta_zh = _eta(notice)
            lines.append(("预计售罄", eta_zh) if zh else ("Sell-out ETA", eta_en))
        if pct is not None:
            forecast, c = _forecast(notice), notice.consumption
            lines.append(
                ("已消耗", f"{c}件（预测{forecast}件的{pct}%）")
                if zh
                else ("Consumed", f"{c} ({pct}% of the forecast {forecast})")
            )
    if notice.restock_quantity > 0:
        r = notice.restock_quantity
        lines.append(("建议补货", f"{r}件") if zh else ("Restock", f"{r} units"))
    split = _split(notice)
    if split:
        lines.append(("平台", split) if zh else ("Platforms", split))
    lines += [
        ("场次" if zh else "Session", clean_text(notice.session_id, ID_MAX)),
        ("时间" if zh else "Time", _time(notice)),
        ("预警编号" if zh else "Alert id", clean_text(notice.alert_id, ID_MAX)),
    ]
    return lines


def email_body(notice: AlertNotice) -> str:
    """Plain text: per language a title line, the action, then the facts as labelled lines."""
    rendered = render(notice)
    sections = []
    languages: tuple[tuple[Lang, str, str], ...] = (
        ("zh", rendered.title_zh, "："),
        ("en", rendered.title_en, ": "),
    )
    for lang, title, sep in languages:
        lines = [title, ""] + [f"{label}{sep}{value}" for label, value in fact_lines(notice, lang)]
        sections.append("\n".join(lines))
    footer = "stockpulse · 直播库存预警 / live-stream stock guard"
    return f"\n\n{'-' * 40}\n\n".join(sections) + f"\n\n-- \n{footer}\n"


# ------------------------------------------------------------------------ supply chain
def restock_subject(notice: AlertNotice) -> str:
    restock = notice.restock_quantity
    tail = f" 补货{restock}件 | Restock request" if restock > 0 else " | Restock request"
    return sanitize_subject(_fit("【补货请求】", notice, tail, SUBJECT_MAX, ("（", "）")))


def restock_request(notice: AlertNotice) -> str:
    """The supply-chain topic's message: a restock request as JSON (names raw: machines read it)."""
    data = json.loads(
        notice.model_dump_json(
            include={
                "alert_id",
                "kind",
                "session_id",
                "sku_id",
                "sku_name",
                "importance",
                "tier",
                "at",
                "available",
                "on_hand",
                "held",
                "velocity_per_minute",
                "sell_out_eta_minutes",
                "restock_quantity",
                "stock_risk",
                "platform_split",
            }
        )
    )
    return json.dumps({"type": "restock_request", **data}, ensure_ascii=False, sort_keys=True)
