"""Alert texts: one notice rendered for people (English, Chinese, and a one-segment SMS).

Every text says what to do: SKU, tier and its action, available, velocity, sell-out ETA,
restock quantity and the platform split. The SMS keeps the numbers and the action and shortens
the SKU name (then the id) until it fits one UCS-2 segment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from stockpulse.domain.alerts import AlertNotice, NoticeKind
from stockpulse.domain.tiers import TIER_ACTIONS_EN, TIER_ACTIONS_ZH, Tier

SMS_MAX_UCS2 = 70  # one SMS segment once any Chinese character forces UCS-2

TIER_EN = {Tier.NONE: "normal", Tier.YELLOW: "YELLOW", Tier.ORANGE: "ORANGE", Tier.RED: "RED"}
TIER_ZH = {Tier.NONE: "正常", Tier.YELLOW: "黄色", Tier.ORANGE: "橙色", Tier.RED: "红色"}
NO_ACTION_EN = "Back to normal: no action needed."
NO_ACTION_ZH = "恢复正常，无需操作。"


@dataclass(frozen=True)
class RenderedAlert:
    title_en: str
    text_en: str
    title_zh: str
    text_zh: str
    sms_zh: str


def action_for(tier: Tier, lang: Literal["en", "zh"] = "en") -> str:
    """What people should do at this tier."""
    if lang == "zh":
        return TIER_ACTIONS_ZH.get(tier, NO_ACTION_ZH)
    return TIER_ACTIONS_EN.get(tier, NO_ACTION_EN)


def ucs2_units(text: str) -> int:
    """SMS length in UCS-2 code units (a character outside the BMP takes two)."""
    return len(text.encode("utf-16-le")) // 2


def _truncate(text: str, limit: int) -> str:
    """At most `limit` UCS-2 units, ending with an ellipsis when shortened."""
    if ucs2_units(text) <= limit:
        return text
    out, used = "", 1  # room for the ellipsis
    for char in text:
        used += ucs2_units(char)
        if used > limit:
            break
        out += char
    return out + "…" if limit > 0 else ""


def _number(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def _eta(notice: AlertNotice) -> tuple[str, str]:
    eta = notice.sell_out_eta_minutes
    if notice.available <= 0:
        return "sold out", "已售罄"
    if eta is None:
        return "no sales right now", "暂无销量"
    if eta < 1:
        return "sells out in <1 min", "不到1分钟售罄"
    minutes = int(eta + 0.5)
    return f"sells out in ~{minutes} min", f"约{minutes}分钟售罄"


def _split(notice: AlertNotice) -> str:
    parts = sorted(notice.platform_split.items(), key=lambda kv: (-kv[1], kv[0]))
    return " / ".join(f"{platform} {units}" for platform, units in parts) or "-"


def render(notice: AlertNotice) -> RenderedAlert:
    tier, was = notice.tier, notice.previous_tier
    sku_en, sku_zh = f"{notice.sku_name} ({notice.sku_id})", f"{notice.sku_name}（{notice.sku_id}）"
    eta_en, eta_zh = _eta(notice)
    act_en, act_zh = action_for(tier, "en"), action_for(tier, "zh")
    facts_en = (
        f"Available {notice.available}, velocity {_number(notice.velocity_per_minute)} units/min, "
        f"{eta_en}; restock {notice.restock_quantity} units to last the session. "
        f"Platforms: {_split(notice)}."
    )
    facts_zh = (
        f"可售{notice.available}件，速度{_number(notice.velocity_per_minute)}件/分钟，{eta_zh}，"
        f"需补货{notice.restock_quantity}件撑到直播结束。平台：{_split(notice)}。"
    )
    numbers_zh = f"可售{notice.available} {eta_zh} 补货{notice.restock_quantity}"

    if notice.kind == NoticeKind.RESOLVED:
        title_en = f"Resolved: {sku_en} now {TIER_EN[tier]} (was {TIER_EN[was]})"
        title_zh = f"【预警解除】{sku_zh}：{TIER_ZH[was]}→{TIER_ZH[tier]}"
        text_en = f"{title_en}. {act_en} {facts_en}"
        text_zh = f"{title_zh}。{act_zh}{facts_zh}"
        head, tail = "【预警解除】", f" {TIER_ZH[was]}→{TIER_ZH[tier]} {numbers_zh} {act_zh}"
    else:
        label_zh = "预警" if notice.kind == NoticeKind.ALERT else "持续"
        head = f"【{TIER_ZH[tier]}{label_zh}】"
        prefix_en = "" if notice.kind == NoticeKind.ALERT else "Still "
        title_en = f"{prefix_en}{TIER_EN[tier]}: {sku_en}"
        title_zh = f"{head}{sku_zh}"
        text_en = f"{title_en}. {act_en} {facts_en}"
        text_zh = f"{title_zh}：{act_zh}{facts_zh}"
        tail = f" {numbers_zh} {act_zh}"
    return RenderedAlert(title_en, text_en, title_zh, text_zh, _sms(head, tail, notice))


def _sms(head: str, tail: str, notice: AlertNotice) -> str:
    """head + SKU label + tail in one segment: the name gives way first, then the id."""
    budget = SMS_MAX_UCS2 - ucs2_units(head) - ucs2_units(tail)
    id_part = f"({notice.sku_id})"
    label = f"{notice.sku_name}{id_part}"
    if ucs2_units(label) > budget:
        room = budget - ucs2_units(id_part)
        label = _truncate(notice.sku_name, room) + id_part if room >= 2 else _truncate(notice.sku_id, budget)
    # Last resort for absurd numbers only: a hard cut still keeps one segment.
    return _truncate(head + label + tail, SMS_MAX_UCS2)
