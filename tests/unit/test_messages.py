"""messages.py: what each text says, and the one-segment SMS."""

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stockpulse.domain.alerts import AlertNotice, NoticeKind
from stockpulse.domain.messages import SMS_MAX_UCS2, action_for, render, ucs2_units
from stockpulse.domain.tiers import TIER_ACTIONS_EN, TIER_ACTIONS_ZH, Tier


def notice(**kw: Any) -> AlertNotice:
    fields: dict[str, Any] = {
        "alert_id": "a-1",
        "kind": NoticeKind.ALERT,
        "session_id": "s-1",
        "sku_id": "cake-01",
        "sku_name": "草莓蛋糕",
        "tier": Tier.RED,
        "previous_tier": Tier.YELLOW,
        "at": datetime(2025, 5, 1, 20, 15, tzinfo=UTC),
        "on_hand": 300,
        "held": 10,
        "reserved": 40,
        "sold": 212,
        "available": 38,
        "velocity_per_minute": 3.2,
        "sell_out_eta_minutes": 11.9,
        "restock_quantity": 250,
        "platform_split": {"kuaishou": 12, "douyin": 40},
    }
    fields.update(kw)
    return AlertNotice(**fields)


def test_action_for_reuses_the_tier_actions() -> None:
    for tier in (Tier.YELLOW, Tier.ORANGE, Tier.RED):
        assert action_for(tier) == TIER_ACTIONS_EN[tier]
        assert action_for(tier, "zh") == TIER_ACTIONS_ZH[tier]
    assert "no action" in action_for(Tier.NONE)
    assert action_for(Tier.NONE, "zh") == "恢复正常，无需操作。"


def test_alert_says_what_to_do() -> None:
    r = render(notice())
    assert r.title_en == "RED: 草莓蛋糕 (cake-01)"
    for text in (r.text_en, r.text_zh):
        assert "cake-01" in text and "草莓蛋糕" in text
        assert "38" in text and "3.2" in text and "250" in text
        assert "douyin 40 / kuaishou 12" in text  # biggest platform first
    assert TIER_ACTIONS_EN[Tier.RED] in r.text_en and "~12 min" in r.text_en
    assert TIER_ACTIONS_ZH[Tier.RED] in r.text_zh and "约12分钟" in r.text_zh
    assert r.title_zh.startswith("【红色预警】")
    assert r.sms_zh == "【红色预警】草莓蛋糕(cake-01) 可售38 约12分钟售罄 补货250 停止售卖，立即联系供应商。"


def test_repeat_and_resolved_have_their_own_wording() -> None:
    repeat = render(notice(kind=NoticeKind.REPEAT, tier=Tier.ORANGE, previous_tier=Tier.ORANGE))
    assert repeat.title_en.startswith("Still ORANGE")
    assert repeat.sms_zh.startswith("【橙色持续】")
    assert TIER_ACTIONS_ZH[Tier.ORANGE] in repeat.sms_zh

    resolved = render(notice(kind=NoticeKind.RESOLVED, tier=Tier.YELLOW, previous_tier=Tier.RED))
    assert resolved.title_en == "Resolved: 草莓蛋糕 (cake-01) now YELLOW (was RED)"
    assert "红色→黄色" in resolved.title_zh and resolved.title_zh.startswith("【预警解除】")
    assert TIER_ACTIONS_EN[Tier.YELLOW] in resolved.text_en  # the lower tier's action still applies
    assert "红色→黄色" in resolved.sms_zh

    normal = render(notice(kind=NoticeKind.RESOLVED, tier=Tier.NONE, previous_tier=Tier.ORANGE))
    assert "now normal" in normal.title_en and "无需操作" in normal.sms_zh


@pytest.mark.parametrize(
    ("available", "eta", "en", "zh"),
    [
        (38, 11.9, "~12 min", "约12分钟售罄"),
        (38, 12.4, "~12 min", "约12分钟售罄"),
        (1, 0.4, "<1 min", "不到1分钟售罄"),
        (0, 0.0, "sold out", "已售罄"),
        (0, None, "sold out", "已售罄"),
        (38, None, "no sales right now", "暂无销量"),
    ],
)
def test_eta_wording(available: int, eta: float | None, en: str, zh: str) -> None:
    r = render(notice(available=available, sell_out_eta_minutes=eta))
    assert en in r.text_en and zh in r.text_zh and zh in r.sms_zh


def test_empty_platform_split_and_whole_velocity() -> None:
    r = render(notice(platform_split={}, velocity_per_minute=3.0))
    assert "Platforms: -." in r.text_en and "velocity 3 units/min" in r.text_en


def test_ucs2_units_counts_astral_characters_twice() -> None:
    assert ucs2_units("abc") == 3 and ucs2_units("蛋糕") == 2 and ucs2_units("🎂") == 2


def test_long_name_is_truncated_never_the_numbers_or_the_action() -> None:
    r = render(notice(sku_name="超级无敌好吃的草莓奶油生日蛋糕六寸装限量版" * 5, restock_quantity=123456))
    assert ucs2_units(r.sms_zh) <= SMS_MAX_UCS2
    assert "…(cake-01)" in r.sms_zh
    assert r.sms_zh.endswith("可售38 约12分钟售罄 补货123456 停止售卖，立即联系供应商。")
    assert "超级无敌" in r.sms_zh  # the name's start survives


def test_very_long_id_gives_way_too() -> None:
    r = render(notice(sku_id="sku-" + "x" * 124, sku_name="蛋糕🎂" * 30))
    assert ucs2_units(r.sms_zh) <= SMS_MAX_UCS2
    assert r.sms_zh.endswith("补货250 停止售卖，立即联系供应商。")


@given(
    name=st.text(min_size=1, max_size=200),
    sku_id=st.text(min_size=1, max_size=128),
    kind=st.sampled_from(list(NoticeKind)),
    tier=st.sampled_from(list(Tier)),
    previous=st.sampled_from(list(Tier)),
    available=st.integers(0, 999_999),
    restock=st.integers(0, 999_999),
    eta=st.one_of(st.none(), st.floats(0, 99_999)),
)
def test_sms_always_fits_one_segment_and_keeps_the_numbers(
    name: str,
    sku_id: str,
    kind: NoticeKind,
    tier: Tier,
    previous: Tier,
    available: int,
    restock: int,
    eta: float | None,
) -> None:
    r = render(
        notice(
            sku_name=name,
            sku_id=sku_id,
            kind=kind,
            tier=tier,
            previous_tier=previous,
            available=available,
            restock_quantity=restock,
            sell_out_eta_minutes=eta,
        )
    )
    assert ucs2_units(r.sms_zh) <= SMS_MAX_UCS2
    assert f"可售{available}" in r.sms_zh and action_for(tier, "zh") in r.sms_zh
    if kind != NoticeKind.RESOLVED:
        assert f"补货{restock}" in r.sms_zh
