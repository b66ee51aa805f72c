"""Settings load from TOML into frozen attrs classes; every bad value is a ConfigError naming it."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ordergate.application.config import (
    AuditKind,
    BrokerKind,
    ConfigError,
    Mode,
    RiskSettings,
    Settings,
    StrategyCSettings,
    load_settings,
    settings_from_mapping,
    settings_rows,
)
from ordergate.domain.errors import OrdergateError
from ordergate.domain.risk.breakers import BreakerConfig, BreakerKind
from ordergate.domain.risk.limits import RiskLimits, Rule
from ordergate.domain.strategy_c import StrategyCConfig
from ordergate.domain.values import InstrumentId

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "ordergate.toml"


def load(document: dict[str, object]) -> Settings:
    return settings_from_mapping(document, environ={})


def error_of(document: dict[str, object]) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load(document)
    return caught.value


# --- the shipped example and the defaults -------------------------------------------------------


def test_the_shipped_example_loads_with_the_seed_operator_id() -> None:
    settings = load_settings(EXAMPLE, environ={})

    assert settings.operator_id == "CSATSPRIM"
    assert settings.mode is Mode.PAPER
    assert settings.broker.kind is BrokerKind.SIM
    assert settings.risk.overrides["IBM"].max_position == Decimal(1000)


@pytest.mark.parametrize("profile", ["paper", "live"])
def test_every_profile_of_the_shipped_example_loads(profile: str) -> None:
    settings = load_settings(EXAMPLE, profile=profile, environ={})

    assert settings.mode is Mode(profile)
    assert settings.broker.kind is BrokerKind.IBKR


def test_defaults_are_the_embedded_setup_sim_broker_sqlite_audit_memory_publisher() -> None:
    settings = load({})

    assert (settings.broker.kind, settings.audit.kind, settings.audit.path) == (
        BrokerKind.SIM,
        AuditKind.SQLITE,
        "ordergate-audit.db",
    )
    assert settings.broker.client_id == 1
    assert settings.market_data.staleness_seconds == 300
    assert settings.strategy_c == StrategyCSettings(3, Decimal("0.40"), 300)


def test_settings_are_frozen() -> None:
    settings = load({})

    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        settings.mode = Mode.LIVE  # type: ignore[misc]


def test_default_risk_settings_mirror_the_domain_risk_limits() -> None:
    assert RiskLimits() == RiskSettings().to_limits()


def test_default_breaker_and_strategy_c_settings_mirror_the_domain_defaults() -> None:
    assert BreakerConfig() == RiskSettings().to_breaker_config()
    assert StrategyCConfig() == StrategyCSettings().to_config()


def test_risk_settings_convert_to_domain_limits_with_overrides_and_switches() -> None:
    settings = load(
        {
            "risk": {
                "max_quote_age_seconds": 30,
                "enabled": {"pattern_day_trader": False},
                "overrides": {"AAPL": {"max_order_quantity": "10"}},
                "breakers": {"enabled": {"drawdown": False}},
            }
        }
    )
    limits = settings.risk.to_limits()

    assert limits.max_quote_age.total_seconds() == 30
    assert limits.disabled == frozenset({Rule.PATTERN_DAY_TRADER})
    assert limits.order_quantity_limit(InstrumentId("AAPL")) == Decimal(10)
    assert settings.risk.to_breaker_config().disabled == frozenset({BreakerKind.DRAWDOWN})


def test_every_rule_is_listed_as_enabled_unless_switched_off() -> None:
    enabled = load({"risk": {"enabled": {"price_collar": False}}}).risk.enabled

    assert set(enabled) == set(Rule)
    assert [rule for rule, on in enabled.items() if not on] == [Rule.PRICE_COLLAR]


# --- Decimal conversion ---------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["0.1", 0.1])
def test_money_in_strings_or_numbers_becomes_the_exact_decimal(raw: object) -> None:
    assert Decimal("0.1") == load({"risk": {"price_collar": raw}}).risk.price_collar


def test_integers_become_decimals_without_a_fraction() -> None:
    assert (
        Decimal("250000") == load({"risk": {"max_gross_notional": 250000}}).risk.max_gross_notional
    )


@given(st.decimals(min_value=0, max_value=10**12, allow_nan=False, allow_infinity=False, places=6))
def test_any_non_negative_decimal_text_round_trips_exactly(value: Decimal) -> None:
    assert value == load({"risk": {"max_order_notional": str(value)}}).risk.max_order_notional


# --- errors name the key and the value -----------------------------------------------------------


def test_an_unknown_broker_kind_names_the_key_the_value_and_the_choices() -> None:
    error = error_of({"broker": {"kind": "ibkrr"}})

    assert str(error) == "broker.kind: 'ibkrr' is not one of sim, ibkr, fake"
    assert error.keys == ("broker.kind",)


def test_the_error_is_an_ordergate_error() -> None:
    assert isinstance(error_of({"mode": "yolo"}), OrdergateError)


def test_an_unknown_key_names_the_dotted_path_the_value_and_a_suggestion() -> None:
    message = str(error_of({"broker": {"hots": "10.0.0.1"}}))

    assert message.startswith("broker.hots: unknown key (value '10.0.0.1')")
    assert "did you mean 'host'?" in message


def test_an_unknown_top_level_section_is_refused() -> None:
    assert error_of({"brokers": {"kind": "sim"}}).keys == ("brokers",)


def test_a_wrong_type_names_the_key_and_the_value() -> None:
    assert str(error_of({"broker": {"port": "4002"}})) == (
        "broker.port: expected an integer; got '4002'"
    )


def test_a_float_is_not_an_integer() -> None:
    assert "got 4001.5" in str(error_of({"broker": {"port": 4001.5}}))


def test_a_boolean_is_not_a_number() -> None:
    assert "risk.max_open_orders: expected an integer; got true" == str(
        error_of({"risk": {"max_open_orders": True}})
    )


def test_a_table_where_a_section_belongs_is_named() -> None:
    assert str(error_of({"broker": 5})) == "broker: expected a table; got 5"


def test_a_negative_limit_names_the_key_and_the_value() -> None:
    assert str(error_of({"risk": {"max_position": -5}})) == (
        "risk.max_position: must be >= 0; got -5"
    )


def test_a_negative_per_instrument_limit_names_the_instrument() -> None:
    error = error_of({"risk": {"overrides": {"AAPL": {"max_position": "-1"}}}})

    assert error.keys == ("risk.overrides.AAPL.max_position",)
    assert "got '-1'" in str(error)


def test_a_text_that_is_not_a_number_is_refused() -> None:
    assert "risk.max_leverage: expected a decimal number" in str(
        error_of({"risk": {"max_leverage": "two"}})
    )


def test_an_unknown_rule_switch_names_the_rule() -> None:
    message = str(error_of({"risk": {"enabled": {"max_fun": False}}}))

    assert message.startswith("risk.enabled.max_fun: unknown switch (value false); expected one of")


def test_an_out_of_range_port_is_refused() -> None:
    assert str(error_of({"broker": {"port": 0}})) == (
        "broker.port: must be between 1 and 65535; got 0"
    )


def test_an_emergency_loss_above_one_is_refused_as_a_fraction() -> None:
    assert "strategy_c.emergency_loss_pct: must be a fraction" in str(
        error_of({"strategy_c": {"emergency_loss_pct": 40}})
    )


def test_postgres_audit_needs_a_dsn() -> None:
    assert error_of({"audit": {"kind": "postgres"}}).keys == ("audit.dsn",)


def test_a_list_with_a_non_string_symbol_is_refused() -> None:
    assert str(error_of({"session": {"symbols": ["AAPL", 7]}})) == (
        "session.symbols: item 1 is not a string; got 7"
    )


def test_every_problem_is_reported_at_once() -> None:
    error = error_of({"mode": "Live", "broker": {"kind": "x", "port": "y"}, "extra": 1})

    assert set(error.keys) == {"mode", "broker.kind", "broker.port", "extra"}
    assert len(str(error).splitlines()) == 4


# --- files ---------------------------------------------------------------------------------------


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml", environ={})


def test_invalid_toml_is_a_config_error_with_the_line(tmp_path: Path) -> None:
    file = tmp_path / "bad.toml"
    file.write_text("[broker\nkind = 'sim'\n")

    with pytest.raises(ConfigError, match=r"is not valid TOML: .*line 1"):
        load_settings(file, environ={})


def test_the_file_can_come_from_ordergate_config(tmp_path: Path) -> None:
    file = tmp_path / "c.toml"
    file.write_text('operator_id = "OPS1"\n')

    assert load_settings(environ={"ORDERGATE_CONFIG": str(file)}).operator_id == "OPS1"


def test_settings_rows_list_every_effective_setting_as_text() -> None:
    rows = dict(settings_rows(load({"risk": {"price_collar": "0.05"}})))

    assert rows["risk.price_collar"] == "0.05"
    assert rows["risk.enabled.price_collar"] == "true"
    assert rows["account_id"] == "-"
    assert rows["secrets.postgres_password"] == "not set"
