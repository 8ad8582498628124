"""The published JSON Schema of the scenario file is ScenarioFile's (contract section 2).

Regenerate the committed file after a model change with:
    STOCKPULSE_WRITE_SCHEMA=1 .venv/bin/pytest tests/runner/test_scenario_schema.py
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator  # pinned through cfn-lint
from support import check_committed_schema

from stockpulse.domain.session import MAX_UNITS
from stockpulse_local.scenario import ScenarioError, ScenarioFile, parse_scenario

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = ROOT / "docs" / "schemas" / "scenario.schema.json"
EXAMPLE = ROOT.parent / "shared" / "contract" / "examples" / "demo-cakes.json"


def generated() -> dict[str, Any]:
    return ScenarioFile.model_json_schema()


def test_committed_schema_is_the_models() -> None:
    check_committed_schema(SCHEMA_PATH, generated(), __file__)


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def test_schema_says_the_contract(validator: Draft202012Validator) -> None:
    schema = validator.schema
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert set(schema["required"]) == {"session", "skus", "events"}
    sku = schema["$defs"]["SkuConfig"]["properties"]
    assert sku["pack_size"] == {
        "default": 1,
        "maximum": 100000,
        "minimum": 1,
        "title": "Pack Size",
        "type": "integer",
    }
    assert sku["alerts"]["$ref"] == "#/$defs/AlertOverrides"
    overrides = schema["$defs"]["AlertOverrides"]["properties"]
    assert set(overrides) == {"cooldown_minutes", "stock_risk", "channels"}
    assert sku["on_hand"]["maximum"] == MAX_UNITS


def sample(**sku: Any) -> dict[str, Any]:
    return {
        "session": {
            "session_id": "s",
            "starts_at": "2026-12-01T20:00:00+08:00",
            "ends_at": "2026-12-01T21:00:00+08:00",
        },
        "skus": [{"sku_id": "a", "on_hand": 5, "forecast": 5, **sku}],
        "events": [{"anything": "goes: a malformed event is one invalid rejection"}, 3],
    }


def test_the_contract_example_and_a_full_sku_pass_both(validator: Draft202012Validator) -> None:
    example = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    alerts = {"cooldown_minutes": 60, "stock_risk": False, "channels": ["im"]}
    ratios = {"yellow": 0.8, "orange": 1.0, "red": 1.25}
    full = sample(pack_size=6, alerts=alerts, tier_ratios=ratios, platform_quotas={"douyin": 3})
    for data in (example, full):
        assert not [e.message for e in validator.iter_errors(data)]
        parse_scenario(data)


@pytest.mark.parametrize(
    "sku",
    [{"on_hand": 10**40}, {"forecast": 0}, {"pack_size": 0}, {"alerts": {"cooldown_minutes": 5}},
     {"alerts": {"channels": ["fax"]}}, {"alerts": {"repeat": True}}, {"lead_time_days": 400},
     {"hold_minutes": 0}, {"sku_id": "cake\nSubject: free"}],
)  # fmt: skip
def test_what_the_schema_refuses_the_reader_refuses(
    validator: Draft202012Validator, sku: dict[str, Any]
) -> None:
    data = sample(**sku)
    assert not validator.is_valid(data)
    with pytest.raises(ScenarioError, match="skus"):
        parse_scenario(data)
