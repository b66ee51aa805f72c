"""Every SignalSource adapter passes the signal-source contract."""

from ordergate.application.testing.contracts import SignalSourceContract


class TestSignalSourceContract(SignalSourceContract):
    """The in-memory signal source, through its harness."""
