"""Redis Streams EventPublisher and SignalSource."""

from ordergate.adapters.redis.config import RedisConfig, RedisUnavailable, connect, redact_url
from ordergate.adapters.redis.idempotency import RedisSeenSignals, SeenSignals
from ordergate.adapters.redis.publisher import TOPICS, RedisStreamPublisher, decode_entry
from ordergate.adapters.redis.signal_source import RedisSignalSource, publish_signal

__all__ = [
    "TOPICS",
    "RedisConfig",
    "RedisSeenSignals",
    "RedisSignalSource",
    "RedisStreamPublisher",
    "RedisUnavailable",
    "SeenSignals",
    "connect",
    "decode_entry",
    "publish_signal",
    "redact_url",
]
