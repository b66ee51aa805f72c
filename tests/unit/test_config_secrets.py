"""Passwords come only from the environment, and every printout masks them."""

from __future__ import annotations

import logging

import pytest

from ordergate.application.config import (
    ConfigError,
    RedactingFilter,
    Secrets,
    redact,
    settings_from_mapping,
    settings_rows,
    with_password,
)

REDIS_VARIABLE = "ORDERGATE_REDIS_PASSWORD"


@pytest.mark.parametrize(
    ("document", "key", "variable"),
    [
        ({"audit": {"password": "hunter2"}}, "audit.password", "ORDERGATE_POSTGRES_PASSWORD"),
        (
            {"publisher": {"redis_password": "x"}},
            "publisher.redis_password",
            "ORDERGATE_REDIS_PASSWORD",
        ),
        (
            {"profiles": {"live": {"audit": {"password": "x"}}}},
            "profiles.live.audit.password",
            "ORDERGATE_POSTGRES_PASSWORD",
        ),
    ],
)
def test_a_password_key_in_the_file_is_refused_pointing_at_the_variable(
    document: dict[str, object], key: str, variable: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        settings_from_mapping(document, environ={})

    assert caught.value.keys == (key,)
    assert variable in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_a_password_inside_the_dsn_is_refused_and_not_shown() -> None:
    with pytest.raises(ConfigError) as caught:
        settings_from_mapping(
            {"audit": {"kind": "postgres", "dsn": "postgresql://og:hunter2@db/og"}}, environ={}
        )

    assert caught.value.keys == ("audit.dsn",)
    assert "ORDERGATE_POSTGRES_PASSWORD" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_a_password_inside_a_redis_url_is_refused() -> None:
    with pytest.raises(ConfigError, match="ORDERGATE_REDIS_PASSWORD"):
        settings_from_mapping({"publisher": {"url": "redis://:s3cret@cache:6379/0"}}, environ={})


def test_secrets_are_read_from_the_environment() -> None:
    settings = settings_from_mapping(
        {},
        environ={"ORDERGATE_POSTGRES_PASSWORD": "pg-pw", "ORDERGATE_REDIS_PASSWORD": "rd-pw"},
    )

    assert settings.secrets == Secrets(postgres_password="pg-pw", redis_password="rd-pw")


def test_secrets_never_appear_in_repr_or_settings_rows() -> None:
    settings = settings_from_mapping({}, environ={"ORDERGATE_POSTGRES_PASSWORD": "pg-pw"})

    assert "pg-pw" not in repr(settings)
    assert "pg-pw" not in repr(settings.secrets)
    assert dict(settings_rows(settings))["secrets.postgres_password"] == (
        "set (from ORDERGATE_POSTGRES_PASSWORD)"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("redis://:s3cret@cache:6379/0", "redis://:***@cache:6379/0"),
        ("postgresql://og:s3cret@db:5432/og", "postgresql://og:***@db:5432/og"),
        ("host=db user=og password=s3cret dbname=og", "host=db user=og password=*** dbname=og"),
        ("connect failed: password: 's3 cret'", "connect failed: password: ***"),
        ("ORDERGATE_REDIS_PASSWORD=s3cret ./run", "ORDERGATE_REDIS_PASSWORD=*** ./run"),
        (
            "set ORDERGATE_REDIS_PASSWORD in the environment",
            "set ORDERGATE_REDIS_PASSWORD in the environment",
        ),
        ("redis://cache:6379/0", "redis://cache:6379/0"),
        ("no secrets here", "no secrets here"),
    ],
)
def test_redact_masks_url_and_keyword_passwords(text: str, expected: str) -> None:
    assert expected == redact(text)


def test_redact_masks_known_secret_values_anywhere() -> None:
    assert "token ***, again ***" == redact("token pg-pw, again pg-pw", ["pg-pw"])


def test_with_password_joins_a_url_and_an_environment_password() -> None:
    joined = with_password("redis://cache:6379/0", "s3cret")

    assert joined == "redis://:s3cret@cache:6379/0"
    assert redact(joined) == "redis://:***@cache:6379/0"
    assert with_password("redis://cache:6379/0", None) == "redis://cache:6379/0"


def test_the_logging_filter_redacts_messages_and_arguments(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logger = logging.getLogger("ordergate.test.redaction")
    secrets = Secrets(redis_password="rd-pw")
    caplog.handler.addFilter(RedactingFilter(secrets))
    with caplog.at_level(logging.INFO, logger=logger.name):
        logger.info("connecting to %s with %s", "redis://:rd-pw@cache/0", "rd-pw")

    assert caplog.messages == ["connecting to redis://:***@cache/0 with ***"]
