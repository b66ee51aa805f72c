"""Every Clock adapter passes the Clock contract."""

from ordergate.application.testing.contracts import ClockContract


class TestClockContract(ClockContract):
    """The fake clock, through its harness."""
