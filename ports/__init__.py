"""Ports: the `typing.Protocol`s the application depends on, one per file, with contracts."""

from ordergate.ports.audit_log import AuditLog
from ordergate.ports.broker import Broker, BrokerEvent
from ordergate.ports.clock import Clock
from ordergate.ports.event_publisher import EventPublisher
from ordergate.ports.market_data import MarketData
from ordergate.ports.signal_source import SignalDelivery, SignalSource
from ordergate.ports.trading_control import TradingControl, TradingControlError

__all__ = [
    "AuditLog",
    "Broker",
    "BrokerEvent",
    "Clock",
    "EventPublisher",
    "MarketData",
    "SignalDelivery",
    "SignalSource",
    "TradingControl",
    "TradingControlError",
]
