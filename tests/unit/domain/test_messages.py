"""messages.py: what each text says, the one-segment SMS, the e-mail subject, untrusted names.

What each channel finally receives, kind by kind, is read in test_channel_bodies.py.
"""

import unicodedata
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from notices import PRE_SHOW_FIELDS

from stockpulse.domain.alerts import AlertNotice, NoticeKind
from stockpulse.domain.messages import (
    SMS_MAX_UCS2,
    SUBJECT_MAX,
    action_for,
    action_text,
    clean_text,
    email_body,
    email_subject,
    fact_lines,
    markup_safe,
    render,
    restock_request,
    restock_subject,
    sanitize_subject,
    stock_lasts,
    ucs2_units,
)
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
        "forecast": 210.0,
    }
    fields.update(kw)
    return AlertNotice(**fields)


def test_action_for_reuses_the_tier_actions() -> None:
    for tier in (Tier.YELLOW, Tier.ORANGE, Tier.RED):
        assert action_for(tier) == TIER_ACTIONS_EN[tier]
        assert action_for(tier, "zh") == TIER_ACTIONS_ZH[tier]
    assert "no action" in action_for(Tier.NONE)
    assert action_for(Tier.NONE, "zh") == "恢复正常，无需操作。"


def test_a_fractional_effective_forecast_is_shown_in_whole_units() -> None:
    """After a restock or a dynamic lift F is fractional; people read whole units, the
    percentage stays exact."""
    r = render(notice(forecast=202.2))  # 252 taken: 124.6%
    assert "达预测202件的125%" in r.text_zh and "202.2" not in r.text_zh + r.text_en
    assert "预测203件" in render(notice(forecast=202.5)).text_zh


def test_consumption_alert_says_what_to_do_and_compares_with_the_forecast() -> None:
    r = render(notice())
    assert r.title_en == "RED: 草莓蛋糕 (cake-01)" and r.title_zh == "【红色预警】草莓蛋糕（cake-01）"
    assert r.text_zh == (
        "【红色预警】草莓蛋糕（cake-01）：停止售卖，立即联系供应链补货250件。"
        "已消耗252件，达预测210件的120%；可售38件，速度3.2件/分钟，约12分钟售罄。"
        "平台：douyin 40 / kuaishou 12。"
    )
    assert r.text_en == (
        "RED: 草莓蛋糕 (cake-01). Stop selling and call the supplier now: restock 250 units. "
        "Consumption 252 is 120% of the forecast 210; available 38, velocity 3.2 units/min, "
        "sells out in ~12 min. Platforms: douyin 40 / kuaishou 12."
    )
    assert (
        r.sms_zh
        == "【红色预警】草莓蛋糕(cake-01) 消耗120% 可售38 约12分钟售罄 补货250 停止售卖，立即联系供应链。"
    )


def test_stock_risk_alert_explains_the_sell_out_eta() -> None:
    r = render(notice(stock_risk=True, sell_out_eta_minutes=8.2))
    assert "Sell-out imminent" in r.action_en and "take the link down" in r.action_en
    assert "At this pace (3.2 units/min) it sells out in ~8 min; available 38." in r.text_en
    assert "按当前速度（3.2件/分钟）约8分钟售罄，可售38件。" in r.text_zh
    assert "即将售罄：立即联系供应链补货250件，准备下架链接。" in r.text_zh
    assert "消耗" not in r.text_zh  # the tier does not come from consumption: no percentage
    assert r.sms_zh == "【红色预警】草莓蛋糕(cake-01) 可售38 约8分钟售罄 补货250 立即联系供应链，准备下架。"
    orange = render(notice(stock_risk=True, tier=Tier.ORANGE, sell_out_eta_minutes=35))
    assert "sells out in ~35 min" in orange.text_en and "主播放缓节奏，运营确认补货250件。" in orange.text_zh


@pytest.mark.parametrize("tier", [Tier.YELLOW, Tier.ORANGE, Tier.RED])
@pytest.mark.parametrize("kind", [NoticeKind.ALERT, NoticeKind.REPEAT])
@pytest.mark.parametrize("show_minutes_left", [None, 5.0])
def test_nothing_to_restock_never_says_restock_zero(
    tier: Tier, kind: NoticeKind, show_minutes_left: float | None
) -> None:
    n = notice(tier=tier, kind=kind, restock_quantity=0, show_minutes_left=show_minutes_left)
    r = render(n)
    for text in (r.text_zh, r.sms_zh, email_body(n)):
        assert "补货0" not in text and "0件" not in text.replace("10件", "")
    for text in (r.text_en, r.action_en):
        assert "restock 0" not in text.lower() and "0 units" not in text.replace("10 units", "")
    if tier is Tier.YELLOW:
        assert "关注" in r.action_zh and "关注" in r.sms_zh and "watch" in r.action_en.lower()


def test_no_restock_number_says_watch_only_when_the_stock_lasts_the_show() -> None:
    """Restock 0 beside "sells out in ~12 min" (no measured pace yet: an opening flash) must not
    read "no restock needed"; with 5 minutes of show left the stock lasts, and it may."""
    for tier, lasts_zh, sells_out_zh in (
        (Tier.YELLOW, "密切关注，暂不需补货。", "密切关注，准备补货（按当前速度本场内会售罄）。"),
        (
            Tier.ORANGE,
            "按当前速度库存够卖到本场结束：主播无需放缓节奏，运营关注库存。",
            "主播放缓节奏，运营准备补货。",
        ),
    ):
        lasts = render(notice(tier=tier, restock_quantity=0, show_minutes_left=5.0))
        assert lasts.action_zh == lasts_zh and "本场内不会售罄" in lasts.text_zh
        assert "准备补货" not in lasts.sms_zh
        for left in (None, 60.0):
            sells_out = render(notice(tier=tier, restock_quantity=0, show_minutes_left=left))
            assert sells_out.action_zh == sells_out_zh and "约12分钟售罄" in sells_out.text_zh
            assert "准备补货" in sells_out.sms_zh and "prepare a restock" in sells_out.action_en
            assert "no restock needed" not in sells_out.text_en
    resolved = render(notice(kind=NoticeKind.RESOLVED, tier=Tier.YELLOW, restock_quantity=0))
    assert "准备补货（按当前速度本场内会售罄）" in resolved.text_zh  # a yellow that still sells out


@pytest.mark.parametrize(
    ("changes", "lasts"),
    [
        ({}, False),  # restock 250: stop selling, call the supplier
        ({"restock_quantity": 0, "show_minutes_left": 5.0}, True),  # 38 at 3.2/min outlasts 5 minutes
        ({"restock_quantity": 0, "show_minutes_left": 60.0}, False),  # it sells out in the show
        ({"restock_quantity": 0, "show_minutes_left": 5.0, "paused": True}, False),  # call the supplier
        ({"restock_quantity": 0, "show_minutes_left": 5.0, "stock_risk": True}, False),  # sell-out imminent
        ({"restock_quantity": 0, "show_minutes_left": 5.0, "tier": Tier.ORANGE}, True),
        (
            {"restock_quantity": 0, "show_minutes_left": 5.0, "tier": Tier.ORANGE, "kind": NoticeKind.REPEAT},
            True,
        ),
        ({"restock_quantity": 0, "show_minutes_left": 60.0, "tier": Tier.ORANGE}, False),  # slow the pitch
        ({"show_minutes_left": 5.0, "tier": Tier.ORANGE}, True),  # no slowing down; confirm 250
        ({"show_minutes_left": 5.0}, True),  # no need to stop selling; 250 for later
        ({"show_minutes_left": 5.0, "stock_risk": True}, False),  # a projection's red: imminent
        ({"restock_quantity": 0, "show_minutes_left": 5.0, "tier": Tier.YELLOW}, False),  # nothing to calm
        (
            {"restock_quantity": 0, "show_minutes_left": 5.0, "kind": NoticeKind.SOLD_OUT, "available": 0},
            False,
        ),
    ],
)
def test_an_orange_or_red_asks_nothing_urgent_exactly_when_it_says_so(
    changes: dict[str, Any], lasts: bool
) -> None:
    """`stock_lasts` decides a red's page (and its repeat) and the big screen's words for both
    tiers: it holds exactly for the text that says "no need to stop selling" (red) or "the host
    need not slow the pitch" (orange)."""
    said = notice(**changes)
    text = render(said).text_zh
    assert stock_lasts(said) is lasts
    assert ("不必停售" in text or "无需放缓节奏" in text) is lasts
    if lasts:  # and never beside the urgent words
        assert "停止售卖" not in text and "主播放缓节奏" not in text


def stepped_down_to_orange(
    *, available: int, pace: float, eta: float, left: float, restock: int
) -> AlertNotice:
    """A red resolved to orange: `available` left at `pace` a minute, `left` minutes of show."""
    return notice(
        kind=NoticeKind.RESOLVED, tier=Tier.ORANGE, previous_tier=Tier.RED, available=available,
        velocity_per_minute=pace, sell_out_eta_minutes=eta, show_minutes_left=left, restock_quantity=restock,
    )  # fmt: skip


def test_an_orange_stepped_down_to_on_a_trickle_does_not_ask_the_host_to_slow_down() -> None:
    """A red stepped down to orange on a SKU selling 0.4 a minute with 28 left and 25 minutes of
    show: "slow the pitch" would only lose sales (seen in the alert bench, waves-4-0)."""
    said = stepped_down_to_orange(available=28, pace=0.4, eta=70.0, left=25.0, restock=0)
    r = render(said)
    assert stock_lasts(said)
    assert r.text_zh.startswith(
        "【预警降级】草莓蛋糕（cake-01）：红色→橙色。按当前速度库存够卖到本场结束：主播无需放缓节奏"
    )
    assert "本场内不会售罄" in r.text_zh and "放缓节奏，运营确认" not in r.text_zh
    assert "the host need not slow the pitch" in r.text_en
    assert "无需放缓节奏，关注库存。" in r.sms_zh


def test_a_tier_whose_stock_lasts_names_its_restock_without_asking_to_slow_down_or_stop() -> None:
    """A rehearsal's red stepped down to orange while the projection still asked for 8 units, at
    0.8 a minute with 76 left and about an hour of show: it read "主播放缓节奏，运营确认补货8件"
    beside "本场内不会售罄". The host has nothing to slow; the restock is still named."""
    said = stepped_down_to_orange(available=76, pace=0.8, eta=95.0, left=63.0, restock=8)
    r = render(said)
    assert stock_lasts(said)
    assert "红色→橙色。按当前速度库存够卖到本场结束：主播无需放缓节奏，运营确认补货8件。" in r.text_zh
    assert "本场内不会售罄" in r.text_zh and "主播放缓节奏" not in r.text_zh
    assert "the host need not slow the pitch; ops: confirm the restock of 8 units" in r.text_en
    assert "无需放缓节奏，确认补货。" in r.sms_zh and len(r.sms_zh) <= 70
    assert "确认补货8件" in email_body(said)
    red = render(notice(show_minutes_left=5.0))  # 38 at 3.2 a minute outlast 5 minutes
    assert "不必停售，联系供应链补货250件备用。" in red.text_zh and "停止售卖" not in red.text_zh
    assert "restock 250 units for later" in red.text_en


def test_yellow_with_a_restock_names_the_quantity() -> None:
    r = render(notice(tier=Tier.YELLOW, previous_tier=Tier.NONE, restock_quantity=24))
    assert r.action_zh == "密切关注，准备补货24件。" and "prepare a restock of 24 units" in r.action_en
    assert "补货24" in r.sms_zh


def test_repeat_says_the_tier_still_stands() -> None:
    r = render(notice(kind=NoticeKind.REPEAT, tier=Tier.ORANGE, previous_tier=Tier.ORANGE))
    assert r.title_en.startswith("Still ORANGE") and r.title_zh.startswith("【橙色持续】")
    assert r.action_zh.startswith("仍为橙色，主播放缓节奏")
    assert r.sms_zh.startswith("【橙色持续】") and "主播放缓节奏" in r.sms_zh


def test_resolved_says_which_tier_was_resolved() -> None:
    """Back to normal is "resolved"; a step down that still asks something is "stepped down": a
    title reading "warning lifted" over "prepare a restock" has people relax too soon."""
    resolved = render(notice(kind=NoticeKind.RESOLVED, tier=Tier.YELLOW, previous_tier=Tier.RED))
    assert resolved.title_en == "Stepped down: 草莓蛋糕 (cake-01) now YELLOW (was RED)"
    assert resolved.title_zh == "【预警降级】草莓蛋糕（cake-01）：红色→黄色"
    assert resolved.action_zh == "密切关注，准备补货250件。"  # the lower tier's action still applies
    assert "红色→黄色" in resolved.sms_zh and "补货250" in resolved.sms_zh

    normal = render(
        notice(kind=NoticeKind.RESOLVED, tier=Tier.NONE, previous_tier=Tier.ORANGE, show_minutes_left=10.0)
    )
    assert "now normal (was ORANGE)" in normal.title_en
    assert normal.sms_zh == "【预警解除】草莓蛋糕(cake-01) 橙色→正常 可售38 无需操作。"
    assert "恢复正常，无需操作。" in normal.text_zh and "本场内不会售罄" in normal.text_zh


def test_back_to_normal_beside_a_sell_out_in_the_show_says_to_keep_watching() -> None:
    # A rehearsal's resolution read "恢复正常，无需操作 … 速度4件/分钟，约29分钟售罄" with 79 minutes of
    # show left: the ETA holds the pace, the lines judge it fading; neither may be hidden.
    n = notice(kind=NoticeKind.RESOLVED, tier=Tier.NONE, previous_tier=Tier.ORANGE, show_minutes_left=79.0)
    r = render(n)
    assert r.action_zh == "恢复正常，暂无需操作；按当前速度本场内会售罄，留意库存。"
    assert "无需操作。" not in r.text_zh and "约12分钟售罄" in r.text_zh
    assert r.sms_zh == "【预警解除】草莓蛋糕(cake-01) 橙色→正常 可售38 暂无需操作，留意库存。"
    assert "keep an eye on the stock" in r.text_en and "no action needed" not in r.text_en
    zh, en = email_body(n).split("-" * 40)
    assert "留意库存" in zh and "keep an eye on the stock" in en


def test_sold_out_says_it_once_and_what_to_do() -> None:
    n = notice(kind=NoticeKind.SOLD_OUT, available=0, sell_out_eta_minutes=0.0)
    r = render(n)
    assert r.sms_zh == "【已售罄】草莓蛋糕(cake-01) 补货250件后恢复或下架链接。"
    assert r.text_zh.count("售罄") == 1 and r.text_en.lower().count("sold out") == 1
    assert "补货250件后恢复售卖，或下架链接" in r.text_zh
    assert "Restock 250 units and resume selling, or take the link down." in r.text_en
    zh, en = email_body(n).split("-" * 40)
    assert zh.count("售罄") == 1 and en.lower().count("sold out") == 1
    nothing = render(notice(kind=NoticeKind.SOLD_OUT, available=0, restock_quantity=0))
    assert nothing.action_zh == "补货后恢复售卖，或下架链接。" and "0" not in nothing.sms_zh.split(")")[1]


def test_pre_show_names_the_sellable_stock_the_line_and_the_units_to_add() -> None:
    n = notice(kind=NoticeKind.PRE_SHOW, **PRE_SHOW_FIELDS)
    r = render(n)
    assert "开播前库存不足" in r.text_zh
    assert "可售40件，低于预警线51件（预测43件），建议开播前补货11件。" in r.text_zh
    assert "Sellable stock 40 units, under the pre-show warning line of 51" in r.text_en
    assert "Add 11 units before the show." in r.text_en
    assert r.sms_zh == "【开播前库存不足】草莓蛋糕(cake-01) 可售40 预警线51 开播前补货11件。"
    # a fractional line is shown rounded up: 40 is under 51.6, so under "52", never "51"
    assert "低于预警线52件" in render(n.model_copy(update={"warning_line": 51.6})).text_zh
    assert "低于开播预警线" in render(n.model_copy(update={"warning_line": None})).text_zh


def test_slow_is_a_tip_to_add_interaction() -> None:
    r = render(notice(kind=NoticeKind.SLOW, tier=Tier.NONE, previous_tier=Tier.NONE, reserved=2, sold=10))
    assert "增加互动" in r.action_zh and "add interaction" in r.action_en
    assert "低于预期区间" in r.text_zh and "under the expected band" in r.text_en
    assert r.sms_zh == "【互动提示】草莓蛋糕(cake-01) 销量低于预期 主播增加互动。"
    assert action_text(notice(kind=NoticeKind.SLOW), "zh") == r.action_zh


@pytest.mark.parametrize(
    ("available", "eta", "en", "zh"),
    [
        (38, 11.9, "~12 min", "约12分钟售罄"),
        (38, 12.4, "~12 min", "约12分钟售罄"),
        (1, 0.4, "<1 min", "不到1分钟售罄"),
        (0, 0.0, "sold out", "已售罄"),
        (0, None, "sold out", "已售罄"),
        (38, None, "no sales right now", "暂无销量"),
        (38, float("inf"), "no sales right now", "暂无销量"),
        (38, float("nan"), "no sales right now", "暂无销量"),
        (38, 150.0, "~3 h", "约3小时售罄"),
        (38, 1e9, "more than 99 h", "99小时以上售罄"),
    ],
)
def test_eta_wording(available: int, eta: float | None, en: str, zh: str) -> None:
    r = render(notice(available=available, sell_out_eta_minutes=eta))
    assert en in r.text_en and zh in r.text_zh and zh in r.sms_zh


@pytest.mark.parametrize(
    ("eta", "left", "lasts"), [(38.0, 4.0, True), (38.0, 40.0, False), (3.0, 3.0, False)]
)
def test_an_eta_past_the_end_of_the_show_says_it_lasts_the_show(eta: float, left: float, lasts: bool) -> None:
    """ "Sells out in ~38 min" with 4 minutes of show left reads as a warning; the stock lasts."""
    n = notice(tier=Tier.YELLOW, sell_out_eta_minutes=eta, show_minutes_left=left)
    r = render(n)
    card, mail = dict(fact_lines(n, "zh")), email_body(n)  # the IM card's and e-mail's fact lines
    if lasts:
        assert "本场内不会售罄" in r.text_zh and "本场内不会售罄" in r.sms_zh and "约38分钟" not in mail
        assert "lasts to the end of the show" in r.text_en and card["预计售罄"] == "本场结束后"
    else:
        assert f"约{int(eta)}分钟售罄" in r.text_zh and f"约{int(eta)}分钟售罄" in r.sms_zh
        assert f"~{int(eta)} min" in r.text_en and card["预计售罄"] == f"约{int(eta)}分钟"


def test_empty_platform_split_and_whole_velocity() -> None:
    r = render(notice(platform_split={}, velocity_per_minute=3.0))
    assert "Platforms" not in r.text_en and "平台" not in r.text_zh
    assert "velocity 3 units/min" in r.text_en


@pytest.mark.parametrize(
    ("velocity", "en", "zh"),
    [
        (0.04, "velocity 0.04 units/min", "速度0.04件/分钟"),  # a trickle that sells out is not "0"
        (0.001, "velocity 0.01 units/min", "速度0.01件/分钟"),
        (0.1, "velocity 0.1 units/min", "速度0.1件/分钟"),
        (2.25, "velocity 2.2 units/min", "速度2.2件/分钟"),
        (1_250_000.0, "velocity 1250000 units/min", "速度1250000件/分钟"),  # no exponent
    ],
)
def test_a_pace_reads_as_people_count(velocity: float, en: str, zh: str) -> None:
    r = render(notice(velocity_per_minute=velocity))
    assert en in r.text_en and zh in r.text_zh


def test_a_huge_forecast_reads_in_whole_units() -> None:
    r = render(notice(forecast=1_234_567.0, reserved=700_000, sold=800_000))
    assert "达预测1234567件的" in r.text_zh and "e+" not in r.text_zh + r.text_en


def test_absurd_numbers_render() -> None:
    r = render(notice(velocity_per_minute=float("nan"), forecast=float("inf"), sell_out_eta_minutes=-5))
    assert "velocity 0 units/min" in r.text_en and "%" not in r.text_en
    big = render(notice(velocity_per_minute=1e300))
    assert len(big.text_en) < 400


def test_ucs2_units_counts_astral_characters_twice() -> None:
    assert ucs2_units("abc") == 3 and ucs2_units("蛋糕") == 2 and ucs2_units("🎂") == 2


def test_long_name_is_truncated_never_the_numbers_or_the_action() -> None:
    r = render(notice(sku_name="超级无敌好吃的草莓奶油生日蛋糕六寸装限量版" * 5, restock_quantity=123456))
    assert ucs2_units(r.sms_zh) <= SMS_MAX_UCS2
    assert "…(cake-01)" in r.sms_zh
    assert r.sms_zh.endswith("可售38 约12分钟售罄 补货123456 停止售卖，立即联系供应链。")
    assert "超级无敌" in r.sms_zh  # the name's start survives


def test_very_long_id_gives_way_too() -> None:
    r = render(notice(sku_id="sku-" + "x" * 124, sku_name="蛋糕🎂" * 30))
    assert ucs2_units(r.sms_zh) <= SMS_MAX_UCS2
    assert r.sms_zh.endswith("补货250 停止售卖，立即联系供应链。")


# ------------------------------------------------------------------------ untrusted text
def test_clean_text_makes_one_safe_line() -> None:
    assert clean_text("a\r\nBcc: x\ty\x00z\x85w\u2028v") == "a Bcc: x y z w v"
    assert clean_text("\u202eevil\u200b\u2066name\ufeff") == "evilname"  # bidi / zero-width gone
    assert clean_text("  many   spaces\u3000here  ") == "many spaces here"
    assert clean_text("see http://evil.example/x and WWW.evil.example") == (
        "see http：//evil\uff0eexample/x and WWW\uff0eevil\uff0eexample"
    )
    # No space needed before a link ("抢购evil.com" autolinks too); decimals and "v1.2" stay.
    assert clean_text("抢购www.evil.com 1shop.cn 2.5kg v1.2") == (
        "抢购www\uff0eevil\uff0ecom 1shop\uff0ecn 2.5kg v1.2"
    )
    assert clean_text("蛋糕" * 100, 10) == "蛋糕蛋糕蛋糕蛋糕蛋…" and ucs2_units(clean_text("🎂" * 9, 9)) <= 9


def test_what_a_reader_sees_as_one_character_stays_whole() -> None:
    """An emoji sequence keeps its joiner (a family, a rainbow flag), which goes anywhere else;
    a cut never ends inside a flag, an accented letter or an emoji sequence."""
    assert clean_text("👩\u200d👧亲子装 🏳️\u200d🌈伞") == "👩\u200d👧亲子装 🏳️\u200d🌈伞"
    assert clean_text("a\u200db 🎂\u200d蛋糕 \u200d👩") == "ab 🎂蛋糕 👩"
    flags = "日本" + "🇯🇵" * 5
    for limit in range(3, 14):
        cut = clean_text(flags, limit)
        assert ucs2_units(cut) <= limit and cut.endswith("…") and len(cut.rstrip("…")) % 2 == 0
    assert clean_text("Poke\u0301mon", 6) == "Poke\u0301…"  # not "Poke…" with a loose accent after it
    assert clean_text("Pokem\u0301on", 6) == "Poke…"
    assert clean_text("👩\u200d👧\u200d👦abc", 6) == "…"  # the family whole or not at all
    assert clean_text("ab👩\u200d👧\u200d👦c", 7) == "ab…"


def test_markup_safe_keeps_words_and_drops_syntax() -> None:
    assert markup_safe("[x](http://evil) # h @all <@u1> **b** `c` ~s~ &lt; | ! \\") == (
        "\uff3bx\uff3d（http：//evil） \uff03 h \uff20all \uff1c\uff20u1\uff1e "
        "\uff0a\uff0ab\uff0a\uff0a \uff40c\uff40 \uff5es\uff5e \uff06lt; \uff5c ！ \uff3c"
    )
    assert markup_safe("Osmanthus cake, 6 pcs - 桂花糕") == "Osmanthus cake, 6 pcs - 桂花糕"


@pytest.mark.parametrize(
    "name",
    [
        "桂花糕\r\nBcc: victim@example.com",
        "\x00\x07\x1b[31m\x7f\x9b",
        "\u202e\u200d\ufeff",
        "x" * 500,
        "🎂" * 200,
        "",
        "   ",
    ],
)
def test_subject_is_clean_bounded_and_never_empty(name: str) -> None:
    for subject in (email_subject(notice(sku_name=name)), restock_subject(notice(sku_name=name))):
        assert subject and subject == subject.strip() and ucs2_units(subject) <= SUBJECT_MAX
        assert not any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in subject)
        assert "  " not in subject


def test_sanitize_subject_fallback() -> None:
    assert sanitize_subject("\r\n\t\x00") == "stockpulse alert"
    assert sanitize_subject("a\r\nb") == "a b"


def test_restock_request_is_json_with_the_numbers() -> None:
    import json

    request = json.loads(restock_request(notice(stock_risk=True)))
    assert request["type"] == "restock_request" and request["restock_quantity"] == 250
    assert request["sku_id"] == "cake-01" and request["sku_name"] == "草莓蛋糕" and request["tier"] == "red"
    assert request["stock_risk"] is True and request["available"] == 38


@given(
    name=st.text(min_size=0, max_size=200),
    sku_id=st.text(min_size=1, max_size=128),
    kind=st.sampled_from(list(NoticeKind)),
    tier=st.sampled_from(list(Tier)),
    previous=st.sampled_from(list(Tier)),
    available=st.integers(0, 999_999),
    restock=st.integers(0, 999_999),
    eta=st.one_of(st.none(), st.floats(0, 99_999)),
    stock_risk=st.booleans(),
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
    stock_risk: bool,
) -> None:
    n = notice(
        sku_name=name,
        sku_id=sku_id,
        kind=kind,
        tier=tier,
        previous_tier=previous,
        available=available,
        restock_quantity=restock,
        sell_out_eta_minutes=eta,
        stock_risk=stock_risk,
    )
    r = render(n)
    assert ucs2_units(r.sms_zh) <= SMS_MAX_UCS2
    assert not any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in r.sms_zh)
    assert "补货0" not in r.sms_zh
    if kind in (NoticeKind.ALERT, NoticeKind.REPEAT, NoticeKind.RESOLVED):
        assert f"可售{available}" in r.sms_zh
    if kind in (NoticeKind.ALERT, NoticeKind.REPEAT) and restock > 0:
        assert f"补货{restock}" in r.sms_zh
    if kind is NoticeKind.SOLD_OUT and restock > 0:
        assert f"补货{restock}件" in r.sms_zh
    subject = email_subject(n)
    assert subject and ucs2_units(subject) <= SUBJECT_MAX
    assert not any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in subject)
