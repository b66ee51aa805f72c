"""`[broker] max_requests_per_second`: ib_async's request throttle, configurable (default 45).

IB's pacing allows about 50 requests a second; ib_async throttles to 45 by default. Against the
local gateway emulator there is no pacing to respect, so the throttle can be lifted with 0.
"""

from __future__ import annotations

import pytest

from ordergate.adapters.ibkr.config import IbkrConfig
from ordergate.adapters.ibkr.connection import IbkrConnection
from ordergate.application.bootstrap import _ibkr_broker
from ordergate.application.config import ConfigError, settings_from_mapping


def test_the_default_is_ibs_safe_rate_and_the_connection_throttles_to_it() -> None:
    settings = settings_from_mapping({}, environ={})
    assert 45 == settings.broker.max_requests_per_second
    assert 45 == IbkrConnection(IbkrConfig(operator_id="OP")).ib.client.MaxRequests


@pytest.mark.parametrize("rate", [0, 10, 200])
def test_the_configured_rate_reaches_ib_async_on_the_trading_connection(rate: int) -> None:
    settings = settings_from_mapping(
        {"broker": {"kind": "ibkr", "max_requests_per_second": rate}}, environ={}
    )
    broker = _ibkr_broker(settings, frozenset())
    assert rate == broker.connection.ib.client.MaxRequests  # 0: ib_async sends unthrottled


@pytest.mark.parametrize("bad", [-1, 1.5, True, "45"])
def test_a_bad_rate_is_refused_naming_the_key_and_the_value(bad: object) -> None:
    with pytest.raises(ConfigError) as caught:
        settings_from_mapping({"broker": {"max_requests_per_second": bad}}, environ={})
    message = str(caught.value)
    assert "broker.max_requests_per_second" in message
    assert str(bad).lower() in message.lower()  # TOML spells a boolean `true`
    with pytest.raises(ValueError, match="max_requests_per_second must be an integer >= 0"):
        IbkrConfig(operator_id="OP", max_requests_per_second=bad)  # type: ignore[arg-type]
