"""Redis connection settings and the client factory shared by the publisher and signal source.

The URL in config never carries a password: it comes from the environment variable the config
names. Every address that appears in a message goes through `redact_url` first.

This module must never log, print or raise with an unredacted URL, and opens no connection at
import time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

import attrs
import redis.asyncio as aioredis

from ordergate.domain.errors import InvalidValue, OrdergateError

__all__ = ["RedisConfig", "RedisUnavailable", "connect", "redact_url"]


class RedisUnavailable(OrdergateError):
    """Redis did not accept a command (connection, timeout, server error)."""


@attrs.frozen
class RedisConfig:
    """Where Redis is and how ordergate uses it (streams, group, bounds)."""

    url: str = "redis://127.0.0.1:6379/0"
    password_env: str | None = "ORDERGATE_REDIS_PASSWORD"
    socket_timeout: float = 5.0
    prefix: str = ""
    stream_maxlen: int = 100_000
    all_events: bool = True
    signal_stream: str = "ordergate:signals"
    consumer_group: str = "ordergate"
    visibility_timeout: float = 30.0


def redact_url(url: str) -> str:
    """`url` with any password replaced by `***`."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "<unparseable url>"
    if password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def connect(config: RedisConfig, environ: Mapping[str, str] | None = None) -> aioredis.Redis:
    """A `redis.asyncio` client for `config` (connections open lazily, on first command)."""
    try:
        has_password = urlsplit(config.url).password is not None
    except ValueError as exc:
        raise InvalidValue("redis.url", "<unparseable>", f"is not a valid URL ({exc})") from None
    if has_password:
        raise InvalidValue(
            "redis.url",
            redact_url(config.url),
            f"must not carry a password; put it in ${config.password_env or 'the environment'}",
        )
    env = os.environ if environ is None else environ
    password = env.get(config.password_env) if config.password_env else None
    return aioredis.Redis.from_url(
        config.url,
        password=password,
        socket_timeout=config.socket_timeout,
        socket_connect_timeout=config.socket_timeout,
    )
