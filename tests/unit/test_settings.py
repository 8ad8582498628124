"""One Settings model for every environment variable: parsed once, refused by name, set by the template."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from pydantic import ValidationError

from stockpulse.settings import MissingSetting, Settings
from stockpulse_local.template_tables import load_template

ROOT = Path(__file__).resolve().parents[2]
LAMBDA_RUNTIME = {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL"}


def test_defaults_without_any_variable() -> None:
    settings = Settings.from_environment({})
    assert settings.expiry_shards == 16
    assert settings.robot_max_attempts == 4
    assert settings.webhook_parameter_path == "/stockpulse/webhooks"
    assert settings.ledger_table is None and settings.alert_cooldown_minutes is None


def test_values_are_typed_and_blank_means_unset() -> None:
    settings = Settings.from_environment(
        {
            "LEDGER_TABLE": "t",
            "EXPIRY_SHARDS": "32",
            "ALERT_COOLDOWN_MINUTES": "12.5",
            "SUPPLY_TOPIC_ARN": " ",
        }
    )
    assert (settings.ledger_table, settings.expiry_shards) == ("t", 32)
    assert settings.alert_cooldown_minutes == 12.5
    assert settings.supply_topic_arn is None


@pytest.mark.parametrize(
    "env",
    [
        {"EXPIRY_SHARDS": "0"},
        {"EXPIRY_SHARDS": "many"},
        {"ROBOT_MAX_ATTEMPTS": "0"},
        {"ALERT_COOLDOWN_MINUTES": "-1"},
    ],
)
def test_a_bad_value_is_refused_with_its_variable(env: dict[str, str]) -> None:
    with pytest.raises(ValidationError, match=next(iter(env))):
        Settings.from_environment(env)


def test_a_missing_required_value_names_its_variable() -> None:
    with pytest.raises(MissingSetting, match="REJECTED_EVENTS_QUEUE_URL is not set"):
        Settings.from_environment({}).require("rejected_events_queue_url")
    assert Settings.from_environment({"LEDGER_TABLE": "t"}).require("ledger_table") == "t"


def test_every_variable_the_template_sets_is_a_setting() -> None:
    template = load_template(ROOT / "template.yaml")
    names = set(template["Globals"]["Function"]["Environment"]["Variables"])
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            names |= set(resource["Properties"].get("Environment", {}).get("Variables", {}))
    aliases = {field.alias for field in Settings.model_fields.values()}
    assert names - LAMBDA_RUNTIME <= aliases
    assert "WEBHOOK_PARAMETER_PATH" in names  # one name for the robots' path, no alias


def test_only_the_settings_module_reads_the_environment() -> None:
    readers = []
    for path in [*(ROOT / "shared" / "stockpulse").rglob("*.py"), *(ROOT / "functions").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in {"environ", "getenv"}:
                readers.append(path.relative_to(ROOT).as_posix())
    assert sorted(set(readers)) == ["shared/stockpulse/settings.py"]
