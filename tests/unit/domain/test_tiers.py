"""tiers.py: exact boundaries, restock extension, the available = 0 rule and the stock-risk floor."""

from fractions import Fraction

import pytest

from stockpulse.domain.tiers import Tier, TierInputs, TierRatios, consumption_tier, exact, tier_of


def inputs(
    consumption: int,
    *,
    forecast: int = 100,
    available: int = 1000,
    restocked: int = 0,
    ratios: TierRatios | None = None,
    risk: Tier = Tier.NONE,
) -> TierInputs:
    return TierInputs(
        reserved=consumption // 2,
        sold=consumption - consumption // 2,
        available=available,
        restocked=restocked,
        forecast=Fraction(forecast),
        ratios=ratios or TierRatios(),
        risk=risk,
    )


@pytest.mark.parametrize(
    ("consumption", "tier"),
    [
        (0, Tier.NONE),
        (79, Tier.NONE),
        (80, Tier.YELLOW),  # exactly 0.8 F
        (99, Tier.YELLOW),
        (100, Tier.ORANGE),  # exactly 1.0 F
        (119, Tier.ORANGE),
        (120, Tier.RED),  # exactly 1.2 F
        (500, Tier.RED),
    ],
)
def test_default_lines_are_inclusive(consumption: int, tier: Tier) -> None:
    assert tier_of(inputs(consumption)) == tier


def test_consumption_is_reserved_plus_sold() -> None:
    i = TierInputs(
        reserved=50, sold=30, available=9, restocked=0, forecast=Fraction(100), ratios=TierRatios()
    )
    assert i.consumption == 80
    assert tier_of(i) == Tier.YELLOW


def test_ratio_written_1_1_is_exactly_eleven_tenths() -> None:
    ratios = TierRatios(yellow=exact("0.8"), orange=exact(1.0), red=exact(1.1))
    assert ratios.red == Fraction(11, 10)
    assert tier_of(inputs(10, forecast=10, ratios=ratios)) == Tier.ORANGE
    assert tier_of(inputs(11, forecast=10, ratios=ratios)) == Tier.RED  # exactly 11, not before


def test_fractional_line_rounds_nowhere() -> None:
    # 0.8 x 7 = 5.6: 5 is below, 6 is above; no float fuzz either way.
    ratios = TierRatios(yellow=exact(0.8))
    assert tier_of(inputs(5, forecast=7, ratios=ratios)) == Tier.NONE
    assert tier_of(inputs(6, forecast=7, ratios=ratios)) == Tier.YELLOW


def test_exact_keeps_decimal_as_written() -> None:
    assert exact(0.1) == Fraction(1, 10)
    assert exact("1.2") == Fraction(6, 5)
    assert exact(3) == Fraction(3)


def test_restock_extends_forecast_by_restocked_over_red() -> None:
    i = inputs(120, forecast=100, restocked=60)
    assert i.effective_forecast == Fraction(150)  # 100 + 60 / 1.2
    assert tier_of(inputs(120, forecast=100)) == Tier.RED
    assert tier_of(i) == Tier.YELLOW  # 120 = 0.8 x 150: the restocked SKU falls back


def test_restock_extension_uses_the_skus_red_ratio() -> None:
    i = inputs(0, forecast=10, restocked=11, ratios=TierRatios(red=exact("1.1")))
    assert i.effective_forecast == Fraction(20)


def test_available_zero_with_consumption_is_red() -> None:
    assert tier_of(inputs(1, available=0)) == Tier.RED


def test_available_zero_without_consumption_is_none() -> None:
    assert tier_of(inputs(0, available=0)) == Tier.NONE


def test_stock_risk_raises_the_tier_but_never_the_contract_tier() -> None:
    assert tier_of(inputs(0, risk=Tier.ORANGE)) == Tier.ORANGE
    assert tier_of(inputs(85, risk=Tier.ORANGE)) == Tier.ORANGE
    assert tier_of(inputs(85, risk=Tier.RED)) == Tier.RED
    assert consumption_tier(inputs(85, risk=Tier.RED)) == Tier.YELLOW  # what auto-pause follows
    assert tier_of(inputs(120, risk=Tier.ORANGE)) == Tier.RED  # risk is a floor, never a ceiling


def test_tier_order() -> None:
    assert Tier.NONE < Tier.YELLOW < Tier.ORANGE < Tier.RED
    assert Tier.RED >= Tier.RED and Tier.YELLOW <= Tier.ORANGE
    assert max(Tier.YELLOW, Tier.RED, Tier.NONE) == Tier.RED
