"""What each channel receives, read as its recipient reads it (issue 10, item 7).

For every kind of notice: the SMS on the on-call phone, the e-mail's subject and body, the DingTalk,
WeCom, Feishu and Slack request bodies, and the JSON the Lambda / SQS subscribers parse. Then
hostile product names: nothing a shop types may add a link, a heading, a mention, a header line
or a control character anywhere. Then the SNS publish itself (captured, and on moto).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws
from notices import PRE_SHOW_FIELDS

from stockpulse.adapters import webhooks
from stockpulse.adapters.sns import SnsAlertPublisher, alert_message, message_attributes
from stockpulse.adapters.webhooks import Platform, RobotConfig
from stockpulse.domain.alerts import AlertNotice, NoticeKind, routing_attributes
from stockpulse.domain.messages import (
    SMS_MAX_UCS2,
    SUBJECT_MAX,
    email_body,
    email_subject,
    render,
    restock_subject,
    ucs2_units,
)
from stockpulse.domain.tiers import Tier

AT = datetime(2026, 11, 25, 20, 40, tzinfo=UTC)
PLATFORMS: tuple[Platform, ...] = ("dingtalk", "wecom", "feishu", "slack")


def make(**overrides: Any) -> AlertNotice:
    values: dict[str, Any] = {
        "alert_id": "live-1/cake-osmanthus/1",
        "kind": NoticeKind.ALERT,
        "session_id": "live-1",
        "sku_id": "cake-osmanthus",
        "sku_name": "桂花糕 6枚",
        "importance": "core",
        "tier": Tier.RED,
        "previous_tier": Tier.ORANGE,
        "at": AT,
        "on_hand": 100,
        "held": 10,
        "reserved": 8,
        "sold": 70,
        "available": 12,
        "velocity_per_minute": 3.0,
        "sell_out_eta_minutes": 4.0,
        "restock_quantity": 95,
        "platform_split": {"douyin": 50, "kuaishou": 28},
        "forecast": 80.0,
        "stock_risk": True,
        "first_of_tier": True,
    }
    values.update(overrides)
    return AlertNotice(**values)


YELLOW_NOTHING_TO_RESTOCK = make(
    tier=Tier.YELLOW,
    previous_tier=Tier.NONE,
    stock_risk=False,
    reserved=4,
    sold=60,
    available=26,
    velocity_per_minute=0.8,
    sell_out_eta_minutes=32.5,
    show_minutes_left=20.0,
    restock_quantity=0,
)

# The contract's red: consumption at 120% of the forecast, with stock to spare.
RED_PAST_THE_PLAN = make(
    stock_risk=False,
    on_hand=140,
    reserved=6,
    sold=90,
    available=34,
    velocity_per_minute=6.6,
    sell_out_eta_minutes=5.2,
    restock_quantity=0,
)

KINDS: dict[str, AlertNotice] = {
    "red_stock_risk": make(),
    # A minute before the show ends: stopping the sale would only lose what the stock is there for.
    "red_stock_lasts": RED_PAST_THE_PLAN.model_copy(update={"show_minutes_left": 1.0}),
    # auto_pause_on_red stopped it as it crossed the line: the reader is told, not asked to stop it.
    "red_paused": RED_PAST_THE_PLAN.model_copy(
        update={"paused": True, "show_minutes_left": 40.0, "restock_quantity": 40}
    ),
    "yellow_nothing_to_restock": YELLOW_NOTHING_TO_RESTOCK,
    # An opening flash: it sells out in minutes, and the evaluator has no pace to size a restock on.
    "yellow_no_number_yet": YELLOW_NOTHING_TO_RESTOCK.model_copy(
        update={"velocity_per_minute": 8.5, "sell_out_eta_minutes": 3.1, "show_minutes_left": 80.0}
    ),
    "repeat_orange": make(
        kind=NoticeKind.REPEAT,
        tier=Tier.ORANGE,
        previous_tier=Tier.ORANGE,
        stock_risk=False,
        reserved=6,
        sold=76,
        available=8,
        sell_out_eta_minutes=2.7,
        first_of_tier=False,
    ),
    "resolved_orange": make(
        kind=NoticeKind.RESOLVED,
        tier=Tier.NONE,
        previous_tier=Tier.ORANGE,
        stock_risk=False,
        velocity_per_minute=0.4,
        sell_out_eta_minutes=30.0,
        restock_quantity=0,
        first_of_tier=False,
    ),
    # A red stepped down to orange on a SKU now selling 0.4 a minute with 28 left and 25 minutes
    # of show: slowing the pitch would only lose sales.
    "resolved_to_orange_stock_lasts": RED_PAST_THE_PLAN.model_copy(
        update={
            "kind": NoticeKind.RESOLVED,
            "previous_tier": Tier.RED,
            "tier": Tier.ORANGE,
            "first_of_tier": False,
            "available": 28,
            "velocity_per_minute": 0.4,
            "sell_out_eta_minutes": 70.0,
            "show_minutes_left": 25.0,
        }
    ),
    "sold_out": make(
        kind=NoticeKind.SOLD_OUT,
        reserved=10,
        sold=80,
        available=0,
        sell_out_eta_minutes=0.0,
        stock_risk=False,
    ),
    "pre_show": make(kind=NoticeKind.PRE_SHOW, **PRE_SHOW_FIELDS, stock_risk=False, first_of_tier=False),
    "slow": make(
        kind=NoticeKind.SLOW,
        tier=Tier.NONE,
        previous_tier=Tier.NONE,
        reserved=2,
        sold=14,
        available=74,
        velocity_per_minute=0.3,
        sell_out_eta_minutes=None,
        restock_quantity=0,
        stock_risk=False,
        first_of_tier=False,
    ),
}

# ------------------------------------------------------------------------------- the SMS
SMS = {
    "red_stock_risk": (
        "【红色预警】桂花糕 6枚(cake-osmanthus) 可售12 约4分钟售罄 补货95 立即联系供应链，准备下架。"
    ),
    "red_stock_lasts": (
        "【红色预警】桂花糕 6枚(cake-osmanthus) 消耗120% 可售34 本场内不会售罄 不必停售，联系供应链补货备用。"
    ),
    "red_paused": "【红色预警】桂花糕 6枚(cake-osmanthus) 消耗120% 可售34 暂停售卖中 补货40 立即联系供应链。",
    "yellow_nothing_to_restock": (
        "【黄色预警】桂花糕 6枚(cake-osmanthus) 消耗80% 可售26 本场内不会售罄 密切关注。"
    ),
    "yellow_no_number_yet": (
        "【黄色预警】桂花糕 6枚(cake-osmanthus) 消耗80% 可售26 约3分钟售罄 密切关注，准备补货。"
    ),
    "repeat_orange": (
        "【橙色持续】桂花糕 6枚(cake-osmanthus) 消耗103% 可售8 约3分钟售罄 补货95 "
        "主播放缓节奏，运营确认补货。"
    ),
    "resolved_orange": "【预警解除】桂花糕 6枚(cake-osmanthus) 橙色→正常 可售12 暂无需操作，留意库存。",
    "resolved_to_orange_stock_lasts": (
        "【预警降级】桂花糕 6枚(cake-osmanthus) 红色→橙色 可售28 无需放缓节奏，关注库存。"
    ),
    "sold_out": "【已售罄】桂花糕 6枚(cake-osmanthus) 补货95件后恢复或下架链接。",
    "pre_show": "【开播前库存不足】桂花糕 6枚(cake-osmanthus) 可售40 预警线51 开播前补货11件。",
    "slow": "【互动提示】桂花糕 6枚(cake-osmanthus) 销量低于预期 主播增加互动。",
}


@pytest.mark.parametrize("case", sorted(KINDS))
def test_sms_per_kind(case: str) -> None:
    sms = render(KINDS[case]).sms_zh
    assert sms == SMS[case]
    assert ucs2_units(sms) <= SMS_MAX_UCS2


# ------------------------------------------------------------------------------ e-mail
SUBJECTS = {
    "red_stock_risk": "【红色预警】桂花糕 6枚（cake-osmanthus） | RED alert: sells out in ~4 min",
    "red_stock_lasts": "【红色预警】桂花糕 6枚（cake-osmanthus） | RED alert",
    "red_paused": "【红色预警】桂花糕 6枚（cake-osmanthus） | RED alert",
    "yellow_nothing_to_restock": "【黄色预警】桂花糕 6枚（cake-osmanthus） | YELLOW alert",
    "yellow_no_number_yet": "【黄色预警】桂花糕 6枚（cake-osmanthus） | YELLOW alert",
    "repeat_orange": "【橙色持续】桂花糕 6枚（cake-osmanthus） | Still ORANGE",
    "resolved_orange": "【预警解除】桂花糕 6枚（cake-osmanthus） | Resolved: ORANGE -> normal",
    "resolved_to_orange_stock_lasts": (
        "【预警降级】桂花糕 6枚（cake-osmanthus） | Stepped down: RED -> ORANGE"
    ),
    "sold_out": "【已售罄】桂花糕 6枚（cake-osmanthus） | SOLD OUT",
    "pre_show": "【开播前库存不足】桂花糕 6枚（cake-osmanthus） | Pre-show: stock under the warning line",
    "slow": "【互动提示】桂花糕 6枚（cake-osmanthus） | Selling slowly: add interaction",
}

# label -> value lines each e-mail must show (zh section, en section); None: the line must be absent
EMAIL_LINES: dict[str, tuple[dict[str, str | None], dict[str, str | None]]] = {
    "red_stock_lasts": (
        {
            "级别": "红色",
            "操作": "已超预测，但按当前速度库存够卖到本场结束：不必停售，联系供应链补货备用。",
            "预计售罄": "本场结束后",
            "已消耗": "96件（预测80件的120%）",
            "建议补货": None,
        },
        {
            "Tier": "RED",
            "Action": "Well past the forecast, but at this pace the stock lasts the show: "
            "no need to stop selling; call the supplier to restock for later.",
            "Sell-out ETA": "after the show",
        },
    ),
    "resolved_to_orange_stock_lasts": (
        {
            "级别": "红色→橙色（降级）",
            "操作": "按当前速度库存够卖到本场结束：主播无需放缓节奏，运营关注库存。",
            "速度": "0.4件/分钟",
            "预计售罄": "本场结束后",
            "建议补货": None,
        },
        {
            "Tier": "RED -> ORANGE (stepped down)",
            "Action": "At this pace the stock lasts the show: the host need not slow the pitch; "
            "ops: keep watching the stock.",
            "Sell-out ETA": "after the show",
        },
    ),
    "red_paused": (
        {"操作": "已暂停售卖：立即联系供应链补货40件。", "预计售罄": "暂停售卖中", "建议补货": "40件"},
        {"Action": "Selling is paused: call the supplier now to restock 40 units.", "Sell-out ETA": "paused"},
    ),
    "red_stock_risk": (
        {
            "级别": "红色（按售罄预测）",
            "操作": "即将售罄：立即联系供应链补货95件，准备下架链接。",
            "可售": "12件",
            "速度": "3件/分钟",
            "预计售罄": "约4分钟",
            "已消耗": "78件（预测80件的98%）",
            "建议补货": "95件",
            "平台": "douyin 50 / kuaishou 28",
        },
        {
            "Tier": "RED (sell-out projection)",
            "Action": "Sell-out imminent: call the supply chain now to restock 95 units, "
            "and be ready to take the link down.",
            "Available": "12",
            "Velocity": "3 units/min",
            "Sell-out ETA": "~4 min",
            "Restock": "95 units",
            "Platforms": "douyin 50 / kuaishou 28",
        },
    ),
    "yellow_nothing_to_restock": (
        {
            "级别": "黄色",
            "操作": "密切关注，暂不需补货。",
            "已消耗": "64件（预测80件的80%）",
            "建议补货": None,
        },
        {"Tier": "YELLOW", "Action": "Watch closely; no restock needed yet.", "Restock": None},
    ),
    "yellow_no_number_yet": (
        {
            "级别": "黄色",
            "操作": "密切关注，准备补货（按当前速度本场内会售罄）。",
            "预计售罄": "约3分钟",
            "建议补货": None,
        },
        {
            "Tier": "YELLOW",
            "Action": "Watch closely and prepare a restock (at this pace it sells out before the show ends).",
            "Restock": None,
        },
    ),
    "repeat_orange": (
        {"级别": "橙色", "操作": "仍为橙色，主播放缓节奏，运营确认补货95件。", "预计售罄": "约3分钟"},
        {"Tier": "ORANGE", "Action": "Host: slow the pitch and pace; ops: confirm the restock of 95 units."},
    ),
    "resolved_orange": (
        {
            "级别": "橙色→正常（解除）",
            "操作": "恢复正常，暂无需操作；按当前速度本场内会售罄，留意库存。",
            "建议补货": None,
        },
        {
            "Tier": "ORANGE -> normal (resolved)",
            "Action": "Back to normal: nothing to do now; keep an eye on the stock (at this pace it sells "
            "out before the show ends).",
        },
    ),
    "sold_out": (
        {"级别": "红色", "操作": "补货95件后恢复售卖，或下架链接。", "可售": None, "预计售罄": None},
        {"Action": "Restock 95 units and resume selling, or take the link down.", "Sell-out ETA": None},
    ),
    "pre_show": (
        {
            "操作": "建议开播前补货11件。",
            "可售（现货减锁定）": "40件",
            "开播预警线": "51件",
            "建议补货": "11件",
            "级别": None,
            "速度": None,
        },
        {
            "Action": "Add 11 units before the show.",
            "Sellable (on hand - held)": "40",
            "Pre-show warning line": "51",
        },
    ),
    "slow": (
        {
            "操作": "主播增加互动：讲解卖点、发放福利，引导下单。",
            "已消耗": "16件（预测80件的20%）",
            "级别": None,
        },
        {"Action": "Host: add interaction (demo the product, offer a perk, invite orders).", "Restock": None},
    ),
}


def email_sections(body: str) -> tuple[list[str], list[str]]:
    zh, en = body.split("\n" + "-" * 40 + "\n")
    return zh.strip().splitlines(), en.split("\n-- \n")[0].strip().splitlines()


def labelled(lines: list[str], sep: str) -> dict[str, str]:
    return dict(line.split(sep, 1) for line in lines[2:] if line)  # after the title and a blank line


@pytest.mark.parametrize("case", sorted(KINDS))
def test_email_per_kind(case: str) -> None:
    notice = KINDS[case]
    subject = email_subject(notice)
    assert subject == SUBJECTS[case] and ucs2_units(subject) <= SUBJECT_MAX
    body = email_body(notice)
    zh, en = email_sections(body)
    rendered = render(notice)
    assert zh[0] == rendered.title_zh and en[0] == rendered.title_en  # a title line first
    assert body.index(rendered.title_zh) < body.index(rendered.title_en)  # Chinese first
    zh_lines, en_lines = labelled(zh, "："), labelled(en, ": ")
    assert (
        zh_lines["商品"] == "桂花糕 6枚（cake-osmanthus）"
        and en_lines["SKU"] == "桂花糕 6枚 (cake-osmanthus)"
    )
    assert zh_lines["场次"] == en_lines["Session"] == "live-1"
    assert zh_lines["时间"] == en_lines["Time"] == "2026-11-25 20:40:00 UTC"
    want_zh, want_en = EMAIL_LINES[case]
    for got, want in ((zh_lines, want_zh), (en_lines, want_en)):
        for label, value in want.items():
            assert got.get(label) == value, (label, got.get(label))
    assert "补货0" not in body and not re.search(r"(?<!\d)0件|(?<![\d.])0 units", body)
    assert "\r" not in body and "\t" not in body


def test_sold_out_says_it_once_per_language() -> None:
    zh, en = email_sections(email_body(KINDS["sold_out"]))
    assert "\n".join(zh).count("售罄") == 1 and "\n".join(en).lower().count("sold out") == 1
    assert render(KINDS["sold_out"]).sms_zh.count("售罄") == 1


# ------------------------------------------------------------------------- IM robots
def robot(platform: Platform, lang: webhooks.Lang | None = None) -> RobotConfig:
    return RobotConfig(platform, "https://robots.example.com/send?token=t", None, lang=lang)


def im_body(platform: Platform, notice: AlertNotice, lang: webhooks.Lang | None = None) -> dict[str, Any]:
    _, body, headers = webhooks.build_request(robot(platform, lang), notice, now_ms=1_764_103_233_123)
    assert headers["Content-Type"].startswith("application/json")
    parsed: dict[str, Any] = json.loads(body)
    return parsed


def _slack_unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def read(platform: Platform, body: dict[str, Any]) -> str:
    """What the group sees, markup stripped the way the client renders it."""
    if platform == "dingtalk":
        return re.sub(r"^#### |\*\*", "", body["markdown"]["text"], flags=re.M)
    if platform == "wecom":
        return re.sub(r"^> |\*\*", "", body["markdown"]["content"], flags=re.M)
    if platform == "feishu":
        text: str = body["content"]["text"]
        return text
    blocks = body["blocks"]
    return _slack_unescape(blocks[0]["text"]["text"] + "\n" + blocks[1]["text"]["text"].replace("*", ""))


# (words in Chinese, words in English) the group must read, per kind
IM_WORDS: dict[str, tuple[list[str], list[str]]] = {
    "red_stock_lasts": (
        ["【红色预警】", "不必停售，联系供应链补货备用。", "达预测80件的120%", "本场内不会售罄"],
        ["RED: ", "no need to stop selling", "lasts to the end of the show"],
    ),
    "red_paused": (
        ["【红色预警】", "已暂停售卖：立即联系供应链补货40件。", "暂停售卖中"],
        ["RED: ", "Selling is paused: call the supplier now to restock 40 units.", "selling is paused"],
    ),
    "red_stock_risk": (
        [
            "【红色预警】",
            "即将售罄：立即联系供应链补货95件，准备下架链接。",
            "按当前速度（3件/分钟）约4分钟售罄",
            "可售12件",
        ],
        [
            "RED: ",
            "Sell-out imminent",
            "restock 95 units",
            "At this pace (3 units/min) it sells out in ~4 min",
        ],
    ),
    "yellow_nothing_to_restock": (
        ["【黄色预警】", "密切关注，暂不需补货。", "已消耗64件，达预测80件的80%", "可售26件"],
        ["YELLOW: ", "Watch closely; no restock needed yet.", "Consumption 64 is 80% of the forecast 80"],
    ),
    "yellow_no_number_yet": (
        ["【黄色预警】", "密切关注，准备补货（按当前速度本场内会售罄）。", "约3分钟售罄"],
        ["YELLOW: ", "prepare a restock (at this pace it sells out before the show ends)", "in ~3 min"],
    ),
    "repeat_orange": (
        ["【橙色持续】", "仍为橙色，主播放缓节奏，运营确认补货95件。", "可售8件", "约3分钟售罄"],
        ["Still ORANGE: ", "confirm the restock of 95 units", "available 8"],
    ),
    "resolved_orange": (
        ["【预警解除】", "橙色→正常", "恢复正常，暂无需操作；按当前速度本场内会售罄，留意库存。", "约30分钟"],
        ["Resolved: ", "now normal (was ORANGE)", "keep an eye on the stock", "sells out in ~30 min"],
    ),
    "resolved_to_orange_stock_lasts": (
        ["【预警降级】", "红色→橙色", "主播无需放缓节奏，运营关注库存。", "速度0.4件/分钟，本场内不会售罄"],
        [
            "Stepped down: ",
            "now ORANGE (was RED)",
            "the host need not slow the pitch",
            "lasts to the end of the show",
        ],
    ),
    "sold_out": (
        ["【已售罄】", "补货95件后恢复售卖，或下架链接。", "已消耗90件"],
        ["SOLD OUT: ", "Restock 95 units and resume selling, or take the link down."],
    ),
    "pre_show": (
        ["【开播前库存不足】", "可售40件，低于预警线51件", "建议开播前补货11件。"],
        [
            "Pre-show stock short: ",
            "Sellable stock 40 units",
            "warning line of 51",
            "Add 11 units before the show.",
        ],
    ),
    "slow": (
        ["【互动提示】", "主播增加互动", "低于预期区间"],
        ["Selling slowly: ", "add interaction", "under the expected band"],
    ),
}


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("case", sorted(KINDS))
def test_im_bodies_per_kind(case: str, platform: Platform) -> None:
    notice = KINDS[case]
    zh_words, en_words = IM_WORDS[case]
    for lang, words in (("zh", zh_words), ("en", en_words)):
        text = read(platform, im_body(platform, notice, lang))  # type: ignore[arg-type]
        assert "桂花糕 6枚" in text and "cake-osmanthus" in text
        for word in words:
            assert word in text, (lang, word, text)
        assert "补货0" not in text and "restock 0" not in text.lower()
        assert not re.search(r"(?<!\d)0件|(?<![\d.])0 units", text)
        assert text.index(words[0]) < text.index(words[1])  # the title first, then what to do


def test_dingtalk_markdown_as_sent() -> None:
    body = im_body("dingtalk", KINDS["red_stock_risk"])
    assert body == {
        "msgtype": "markdown",
        "markdown": {
            "title": "【红色预警】桂花糕 6枚（cake-osmanthus）",
            "text": "#### 【红色预警】桂花糕 6枚（cake-osmanthus）\n\n"
            "**即将售罄：立即联系供应链补货95件，准备下架链接。**\n\n"
            "按当前速度（3件/分钟）约4分钟售罄，可售12件。平台：douyin 50 / kuaishou 28。",
        },
    }


def test_wecom_markdown_as_sent() -> None:
    body = im_body("wecom", KINDS["yellow_nothing_to_restock"])
    assert body == {
        "msgtype": "markdown",
        "markdown": {
            "content": "**【黄色预警】桂花糕 6枚（cake-osmanthus）**\n"
            "> 密切关注，暂不需补货。\n\n"
            "已消耗64件，达预测80件的80%；可售26件，速度0.8件/分钟，本场内不会售罄。"
            "平台：douyin 50 / kuaishou 28。"
        },
    }


def test_feishu_and_slack_as_sent() -> None:
    feishu = im_body("feishu", KINDS["pre_show"])
    assert feishu == {
        "msg_type": "text",
        "content": {
            "text": "【开播前库存不足】桂花糕 6枚（cake-osmanthus）\n建议开播前补货11件。\n"
            "可售40件，低于预警线51件（预测43件）。"
        },
    }
    slack = im_body("slack", KINDS["sold_out"])
    assert slack["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "SOLD OUT: 桂花糕 6枚 (cake-osmanthus)"},
    }
    assert slack["blocks"][1]["text"] == {
        "type": "mrkdwn",
        "text": "*Restock 95 units and resume selling, or take the link down.*\n"
        "Consumed 90 (forecast 80); last velocity 3 units/min. Platforms: douyin 50 / kuaishou 28.",
    }
    assert slack["blocks"][2]["elements"][0]["text"] == "alert live-1/cake-osmanthus/1 · session live-1"


# --------------------------------------------------------------------- hostile names
HOSTILE = [
    "](http://evil.example/phish)",
    "[点我领券](https://evil.example) 桂花糕",
    "![x](http://evil.example/x.png)",
    "# heading",
    "桂花糕\n# 假标题\n> 假引用\n- 假列表",
    "@all 桂花糕",
    "@13800138000",
    "<@everyone> <@U024BE7LH>",
    "<!channel> <!here|here> <!everyone>",
    '<at user_id="all">所有人</at>',
    '<font color="warning">红色</font><script>alert(1)</script>',
    "**bold** _it_ ~strike~ `code` | table |",
    "桂花糕\r\nBcc: victim@example.com\r\nSubject: free",
    "x" * 500,
    "\x00\x07\x1b[31m\x7f\x85\x9b桂花糕\u2028\u2029",
    "\u202egnp.exe\u200b\ufeff",
    "🎂🍰" * 40 + "𠀀𪚥",
    "&lt;b&gt; &#64;all &amp;",
    "www.evil.example 桂花糕",
    "抢购www.evil.com",
    "1evil.cn/x 桂花糕",
]
MARKUP_ASCII = set("[]()#*_!<>@`|~&\\")
DOMAIN_DOT = re.compile(r"[0-9A-Za-z]\.[A-Za-z]")  # what autolinks as a domain


def _no_controls(text: str, *, allow_newlines: bool = False) -> bool:
    bad = {"Cc", "Cf", "Zl", "Zp"}
    return not any(unicodedata.category(c) in bad and not (allow_newlines and c == "\n") for c in text)


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_name_injects_nothing_into_sms_or_email(name: str) -> None:
    for notice in KINDS.values():
        hostile = notice.model_copy(update={"sku_name": name})
        sms = render(hostile).sms_zh
        assert ucs2_units(sms) <= SMS_MAX_UCS2 and _no_controls(sms) and "://" not in sms
        assert not DOMAIN_DOT.search(sms)  # a phone makes no link of the name
        assert sms.endswith(SMS[_case(notice)].split(")", 1)[1])  # numbers and action intact
        for subject in (email_subject(hostile), restock_subject(hostile)):
            assert subject and ucs2_units(subject) <= SUBJECT_MAX and _no_controls(subject)
            assert subject == " ".join(subject.split())  # one line, no runs of spaces
        body = email_body(hostile)
        benign = email_body(notice)
        assert _no_controls(body, allow_newlines=True) and "://" not in body
        assert len(DOMAIN_DOT.findall(body)) == len(DOMAIN_DOT.findall(benign))
        assert len(body.splitlines()) == len(benign.splitlines())  # the name added no line
        for line in body.splitlines():
            assert not line.lower().startswith(("bcc:", "subject:", "# ", "> ", "- "))


def _case(notice: AlertNotice) -> str:
    return next(case for case, known in KINDS.items() if known is notice)


def _markup_counts(text: str) -> dict[str, int]:
    return {c: text.count(c) for c in MARKUP_ASCII} | {
        "://": text.count("://"),
        "www.": text.lower().count("www."),
        "domain dots": len(DOMAIN_DOT.findall(text)),
    }


def _shown(platform: Platform, body: dict[str, Any]) -> str:
    """Every string of the request a client renders."""
    if platform == "dingtalk":
        return body["markdown"]["title"] + "\n" + body["markdown"]["text"]
    if platform == "wecom":
        return str(body["markdown"]["content"])
    if platform == "feishu":
        return str(body["content"]["text"])
    blocks = body["blocks"]
    texts = [
        body["text"],
        blocks[0]["text"]["text"],
        blocks[1]["text"]["text"],
        blocks[2]["elements"][0]["text"],
    ]
    return "\n".join(texts)


@pytest.mark.parametrize("name", HOSTILE)
@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_hostile_name_injects_nothing_into_im(name: str, platform: Platform) -> None:
    """Whatever the shop typed (name, SKU id, platform names), the request carries exactly the
    markup characters of the same notice with harmless values: the template's own, nothing more.
    No link, image, heading, emphasis, tag, entity or mention syntax, no autolinked URL, no line."""
    for notice in (KINDS["red_stock_risk"], KINDS["resolved_orange"], KINDS["pre_show"]):
        hostile = notice.model_copy(
            update={
                "sku_name": name,
                "sku_id": "sku<@U1>",
                "session_id": "live](x)",
                "alert_id": "<!here>#1",
                "platform_split": {"<!here>": 3, "[x](y)": 1} if notice.platform_split else {},
            }
        )
        for lang in ("zh", "en"):
            body = im_body(platform, hostile, lang)  # type: ignore[arg-type]
            benign = im_body(platform, notice, lang)  # type: ignore[arg-type]
            shown, clean = _shown(platform, body), _shown(platform, benign)
            assert _markup_counts(shown) == _markup_counts(clean), name
            assert shown.count("\n") == clean.count("\n")  # no extra heading, quote or list line
            assert _no_controls(shown, allow_newlines=True)
            assert len(json.dumps(body, ensure_ascii=False).encode()) < 20_000
            if platform == "dingtalk":
                lines = body["markdown"]["text"].split("\n")
                assert lines[0].startswith("#### ") and lines[2].startswith("**") and lines[2].endswith("**")
            elif platform == "wecom":
                lines = body["markdown"]["content"].split("\n")
                assert lines[0].startswith("**") and lines[0].endswith("**") and lines[1].startswith("> ")
            elif platform == "slack":
                assert "@" not in shown and "<" not in shown.replace("&lt;", "")


def test_hostile_name_is_still_readable_in_im() -> None:
    hostile = KINDS["red_stock_risk"].model_copy(update={"sku_name": "[限时]桂花糕 <6枚> & 茶 @主播"})
    text = im_body("dingtalk", hostile)["markdown"]["text"]
    assert "\uff3b限时\uff3d桂花糕 \uff1c6枚\uff1e \uff06 茶 \uff20主播（cake-osmanthus）" in text


def test_machines_get_the_name_as_typed() -> None:
    """The `default` JSON is for machines (router, feed): exact data, each renders it safely."""
    name = "桂花糕\r\n<@all> ](http://x)"
    notice = KINDS["red_stock_risk"].model_copy(update={"sku_name": name})
    default = json.loads(alert_message(notice))["default"]
    assert AlertNotice.model_validate_json(default).sku_name == name


# ------------------------------------------------------------------------------ SNS
class CapturingSns:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def publish(self, **kwargs: Any) -> dict[str, str]:
        self.calls.append(kwargs)
        return {"MessageId": f"m-{len(self.calls)}"}


def delivered_to(protocol: str, call: dict[str, Any]) -> str:
    """What SNS hands a subscription of `protocol` from a JSON-structured message."""
    assert call["MessageStructure"] == "json"
    structured = json.loads(call["Message"])
    assert all(isinstance(v, str) for v in structured.values())
    body: str = structured.get(protocol, structured["default"])
    return body


@pytest.mark.parametrize("case", sorted(KINDS))
def test_publish_sends_a_body_per_protocol(case: str) -> None:
    notice = KINDS[case]
    sns = CapturingSns()
    SnsAlertPublisher(sns, "arn:alerts", "arn:supply").publish(notice)
    call = sns.calls[0]
    assert call["TopicArn"] == "arn:alerts" and call["MessageStructure"] == "json"
    assert set(json.loads(call["Message"])) == {"default", "sms", "email"}
    for protocol in ("lambda", "sqs", "email-json", "https"):  # machines: the notice JSON
        assert AlertNotice.model_validate_json(delivered_to(protocol, call)) == notice
    sms = delivered_to("sms", call)
    assert sms == SMS[case] and ucs2_units(sms) <= SMS_MAX_UCS2
    email = delivered_to("email", call)
    assert email == email_body(notice) and email.startswith(render(notice).title_zh)
    assert call["Subject"] == SUBJECTS[case]
    # Routing attributes: strings, and the channels as a String.Array.
    attributes = call["MessageAttributes"]
    assert attributes["channels"] == {
        "DataType": "String.Array",
        "StringValue": json.dumps(["im", "sms", "email", "supply_chain"]),
    }
    for name, value in routing_attributes(notice).items():
        if name != "channels":
            assert attributes[name] == {"DataType": "String", "StringValue": value}
    assert attributes["tier"]["StringValue"] == notice.routing_tier.value
    assert attributes["first"]["StringValue"] == ("true" if notice.first_of_tier else "false")


def test_resolution_is_routed_as_the_tier_it_resolves() -> None:
    assert message_attributes(KINDS["resolved_orange"])["tier"]["StringValue"] == "orange"
    assert message_attributes(KINDS["resolved_orange"])["kind"]["StringValue"] == "resolved"


def test_supply_chain_gets_a_restock_request_only_at_announced_red() -> None:
    sns = CapturingSns()
    publisher = SnsAlertPublisher(sns, "arn:alerts", "arn:supply")
    publisher.publish(KINDS["red_stock_risk"])
    assert [c["TopicArn"] for c in sns.calls] == ["arn:alerts", "arn:supply"]
    supply = sns.calls[1]
    request = json.loads(delivered_to("sqs", supply))
    assert request["type"] == "restock_request" and request["restock_quantity"] == 95
    assert request["sku_id"] == "cake-osmanthus" and request["sell_out_eta_minutes"] == 4.0
    assert supply["Subject"] == "【补货请求】桂花糕 6枚（cake-osmanthus） 补货95件 | Restock request"
    assert delivered_to("email", supply) == email_body(KINDS["red_stock_risk"])
    publisher.publish(KINDS["sold_out"])  # red, announced: a request too
    assert len(sns.calls) == 4
    for quiet in (
        KINDS["repeat_orange"].model_copy(update={"tier": Tier.RED, "previous_tier": Tier.RED}),  # a repeat
        KINDS["yellow_nothing_to_restock"],
        KINDS["red_stock_risk"].model_copy(update={"channels": ["im", "sms"]}),  # the SKU opted out
    ):
        before = len(sns.calls)
        publisher.publish(quiet)
        assert len(sns.calls) == before + 1 and sns.calls[-1]["TopicArn"] == "arn:alerts"
    sns.calls.clear()
    SnsAlertPublisher(sns, "arn:alerts").publish(KINDS["red_stock_risk"])  # no supply topic
    assert len(sns.calls) == 1


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_subject_is_one_clean_line(name: str) -> None:
    sns = CapturingSns()
    SnsAlertPublisher(sns, "arn:alerts", "arn:supply").publish(
        KINDS["red_stock_risk"].model_copy(update={"sku_name": name})
    )
    for call in sns.calls:
        subject = call["Subject"]
        assert 0 < len(subject) < 100 and ucs2_units(subject) <= SUBJECT_MAX and _no_controls(subject)
        assert not re.search(r"[\r\n\t]", subject)


@pytest.fixture
def aws() -> Iterator[tuple[Any, Any]]:
    with mock_aws():
        yield boto3.client("sns", region_name="us-east-1"), boto3.client("sqs", region_name="us-east-1")


def _queue(sns: Any, sqs: Any, topic: str, name: str) -> str:
    url: str = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)  # RawMessageDelivery off
    return url


def test_an_sqs_subscriber_receives_the_notice_json(aws: tuple[Any, Any]) -> None:
    sns, sqs = aws
    alerts = sns.create_topic(Name="alerts")["TopicArn"]
    supply = sns.create_topic(Name="supply-chain")["TopicArn"]
    feed, requests = _queue(sns, sqs, alerts, "feed"), _queue(sns, sqs, supply, "supply")
    hostile = KINDS["red_stock_risk"].model_copy(update={"sku_name": "桂花糕\r\nBcc: x " + "糕" * 500})
    publisher = SnsAlertPublisher(sns, alerts, supply)
    for notice in (*KINDS.values(), hostile):  # a 500-character name with CR/LF publishes too
        publisher.publish(notice)
    received = []
    while batch := sqs.receive_message(QueueUrl=feed, MaxNumberOfMessages=10).get("Messages", []):
        for message in batch:
            received.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=feed, ReceiptHandle=message["ReceiptHandle"])
    assert len(received) == len(KINDS) + 1
    by_id = {AlertNotice.model_validate_json(e["Message"]).sku_name: e for e in received}
    envelope = by_id[hostile.sku_name]
    assert AlertNotice.model_validate_json(envelope["Message"]) == hostile  # the default: notice JSON
    assert envelope["Type"] == "Notification" and "\n" not in envelope["Subject"]
    assert envelope["MessageAttributes"]["channels"] == {
        "Type": "String.Array",
        "Value": json.dumps(["im", "sms", "email", "supply_chain"]),
    }
    assert envelope["MessageAttributes"]["tier"] == {"Type": "String", "Value": "red"}
    requested = [
        json.loads(json.loads(m["Body"])["Message"])
        for m in sqs.receive_message(QueueUrl=requests, MaxNumberOfMessages=10)["Messages"]
    ]
    announced_red = [
        n for n in (*KINDS.values(), hostile) if n.tier is Tier.RED and n.kind is not NoticeKind.REPEAT
    ]
    assert sorted((r["kind"], r["sku_name"][:5], r["restock_quantity"]) for r in requested) == sorted(
        (n.kind.value, n.sku_name[:5], n.restock_quantity) for n in announced_red
    )
    assert len(requested) == 5 and all(r["type"] == "restock_request" for r in requested)
