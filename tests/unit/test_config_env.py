"""Profiles overlay the file, ORDERGATE_* variables overlay the profile, overrides win over all."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ordergate.application.config import (
    BrokerKind,
    ConfigError,
    Mode,
    env_overrides,
    settings_from_mapping,
)

DOCUMENT = {
    "mode": "paper",
    "broker": {"kind": "sim", "port": 4002},
    "risk": {"max_position": 100},
    "profiles": {
        "live": {"mode": "live", "account_id": "U1", "broker": {"kind": "ibkr", "port": 4001}},
        "paper": {"broker": {"kind": "ibkr"}},
    },
}


def test_without_a_profile_the_base_tables_apply() -> None:
    settings = settings_from_mapping(DOCUMENT, environ={})

    assert (settings.mode, settings.broker.kind) == (Mode.PAPER, BrokerKind.SIM)


def test_a_profile_overlays_the_base_key_by_key() -> None:
    settings = settings_from_mapping(DOCUMENT, profile="paper", environ={})

    assert (settings.broker.kind, settings.broker.port) == (BrokerKind.IBKR, 4002)


def test_the_profile_can_be_chosen_by_ordergate_profile() -> None:
    settings = settings_from_mapping(DOCUMENT, environ={"ORDERGATE_PROFILE": "live"})

    assert (settings.mode, settings.account_id, settings.broker.port) == (Mode.LIVE, "U1", 4001)


def test_the_profile_argument_wins_over_ordergate_profile() -> None:
    settings = settings_from_mapping(
        DOCUMENT, profile="paper", environ={"ORDERGATE_PROFILE": "live"}
    )

    assert settings.mode is Mode.PAPER


def test_an_undefined_profile_is_a_config_error_listing_the_defined_ones() -> None:
    with pytest.raises(ConfigError, match=r"profile 'demo' is not defined .*live, paper"):
        settings_from_mapping(DOCUMENT, profile="demo", environ={})


def test_a_double_underscore_variable_sets_a_nested_key() -> None:
    settings = settings_from_mapping(DOCUMENT, environ={"ORDERGATE_BROKER__KIND": "ibkr"})

    assert settings.broker.kind is BrokerKind.IBKR


def test_environment_text_is_parsed_into_the_field_type() -> None:
    settings = settings_from_mapping(
        {},
        environ={
            "ORDERGATE_BROKER__PORT": "7497",
            "ORDERGATE_BROKER__CONNECT_TIMEOUT": "2.5",
            "ORDERGATE_RISK__MAX_POSITION": "0.1",
            "ORDERGATE_RISK__ENABLED__PRICE_COLLAR": "false",
            "ORDERGATE_SESSION__SYMBOLS": "AAPL, IBM",
        },
    )

    assert settings.broker.port == 7497
    assert settings.broker.connect_timeout == 2.5
    assert settings.risk.max_position == Decimal("0.1")
    assert settings.risk.to_limits().disabled == {"price_collar"}
    assert settings.session.symbols == ("AAPL", "IBM")


def test_the_environment_wins_over_the_profile() -> None:
    settings = settings_from_mapping(
        DOCUMENT, profile="live", environ={"ORDERGATE_BROKER__PORT": "7496"}
    )

    assert settings.broker.port == 7496


def test_top_level_keys_take_a_single_underscore() -> None:
    settings = settings_from_mapping(
        {}, environ={"ORDERGATE_MODE": "dry_run", "ORDERGATE_OPERATOR_ID": "CSATSPRIM"}
    )

    assert (settings.mode, settings.operator_id) == (Mode.DRY_RUN, "CSATSPRIM")


def test_a_bad_environment_value_names_the_key_the_value_and_the_variable() -> None:
    with pytest.raises(ConfigError) as caught:
        settings_from_mapping({}, environ={"ORDERGATE_BROKER__PORT": "four"})

    assert str(caught.value) == (
        "broker.port: expected an integer; got 'four' (from ORDERGATE_BROKER__PORT)"
    )


def test_an_unknown_nested_variable_is_an_unknown_key() -> None:
    with pytest.raises(ConfigError) as caught:
        settings_from_mapping({}, environ={"ORDERGATE_BROKER__HOTS": "h"})

    assert caught.value.keys == ("broker.hots",)
    assert "(from ORDERGATE_BROKER__HOTS)" in str(caught.value)


def test_variables_that_are_not_settings_are_left_alone() -> None:
    environ = {
        "ORDERGATE_ARM_LIVE": "U1",
        "ORDERGATE_PROFILE": "paper",
        "ORDERGATE_CONFIG": "x.toml",
        "ORDERGATE_POSTGRES_PASSWORD": "pw",
        "ORDERGATE_REDIS_PASSWORD": "pw",
        "ORDERGATE_AUDIT_HMAC_KEY": "k",
        "ORDERGATE_TEST_REDIS_URL": "redis://",
        "ORDERGATE_REQUIRE_SERVICES": "1",
        "PATH": "/bin",
    }

    assert env_overrides(environ) == []


def test_env_overrides_lists_key_paths_and_their_source() -> None:
    [(path, text)] = env_overrides({"ORDERGATE_RISK__OVERRIDES__AAPL__MAX_POSITION": "5"})

    assert path == ("risk", "overrides", "aapl", "max_position")
    assert (text, text.source) == ("5", "ORDERGATE_RISK__OVERRIDES__AAPL__MAX_POSITION")


def test_a_variable_cannot_reach_inside_a_scalar() -> None:
    with pytest.raises(ConfigError, match=r"^mode: is not a table"):
        settings_from_mapping({"mode": "paper"}, environ={"ORDERGATE_MODE__X": "1"})


def test_explicit_overrides_win_over_the_environment() -> None:
    settings = settings_from_mapping(
        DOCUMENT,
        environ={"ORDERGATE_BROKER__KIND": "fake"},
        overrides={"broker.kind": "sim", "broker.port": "4001"},
    )

    assert (settings.broker.kind, settings.broker.port) == (BrokerKind.SIM, 4001)


def test_a_bad_override_says_it_came_from_the_command_line() -> None:
    with pytest.raises(ConfigError, match=r"^mode: 'lve' \(from command line\) is not one of"):
        settings_from_mapping({}, environ={}, overrides={"mode": "lve"})
