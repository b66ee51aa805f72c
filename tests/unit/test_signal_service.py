"""`SignalService` on fakes: at-least-once consumption, idempotent by signal id, never crashing."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from _signal_rig import AAPL, FAST, T0, Rig, signal  # shared test rig

from ordergate.adapters.serialization import encode_signal
from ordergate.application.results import ExecutionMode, OrderResult, OrderResultStatus
from ordergate.application.service import (
    RECENT_RESULTS,
    SeenSignalIds,
    ServiceOptions,
    ServiceSummary,
    SignalService,
)
from ordergate.domain.errors import InvalidValue, OrdergateError
from ordergate.domain.instruments import Stock
from ordergate.domain.signals import Signal
from ordergate.domain.values import ClientOrderId, Side, SignalId
from ordergate.ports.signal_source import SignalDelivery


class AckRecorder:
    """A `SignalSource` around another that notes which audit kinds existed at each ack."""

    def __init__(self, rig: Rig) -> None:
        self.rig = rig
        self.kinds_at_ack: dict[str, list[str]] = {}

    async def receive(self, *, max_count: int, timeout: float) -> list[SignalDelivery]:
        return await self.rig.source.receive(max_count=max_count, timeout=timeout)

    async def ack(self, delivery_id: str) -> None:
        entries = await self.rig.audit.query()
        self.kinds_at_ack[delivery_id] = [e.record.kind for e in entries]
        await self.rig.source.ack(delivery_id)

    async def quarantine(self, delivery_id: str, reason: str) -> None:
        entries = await self.rig.audit.query()
        self.kinds_at_ack[delivery_id] = [e.record.kind for e in entries]
        await self.rig.source.quarantine(delivery_id, reason)

    async def close(self) -> None:
        await self.rig.source.close()


class Flaky(AckRecorder):
    """A source whose transport fails: the next `receive_failures` receives and `ack_failures`
    acks raise, as a Redis connection that drops would."""

    def __init__(self, rig: Rig, *, receive_failures: int = 0, ack_failures: int = 0) -> None:
        super().__init__(rig)
        self.receive_failures = receive_failures
        self.ack_failures = ack_failures

    async def receive(self, *, max_count: int, timeout: float) -> list[SignalDelivery]:
        if self.receive_failures:
            self.receive_failures -= 1
            raise OrdergateError("receiving from the stream failed: connection reset")
        return await super().receive(max_count=max_count, timeout=timeout)

    async def ack(self, delivery_id: str) -> None:
        if self.ack_failures:
            self.ack_failures -= 1
            raise OrdergateError(f"ack of {delivery_id} failed: connection reset")
        await super().ack(delivery_id)


class CrashAtAck(AckRecorder):
    """Hangs at the first ack, so the test can kill the service between processing and ack."""

    def __init__(self, rig: Rig) -> None:
        super().__init__(rig)
        self.reached = asyncio.Event()

    async def ack(self, delivery_id: str) -> None:
        self.reached.set()
        await asyncio.Event().wait()  # never returns: the process "dies" here


async def test_signal_is_gated_then_acknowledged_after_its_decision_is_audited() -> None:
    rig = Rig()
    rig.price("100")
    source = AckRecorder(rig)
    delivery_id = rig.source.push(signal("S1"))
    async with rig.gate:
        service = SignalService(
            rig.gate, source, rig.clock, options=ServiceOptions(max_signals=1, **FAST)
        )
        summary = await service.run(asyncio.Event())
    assert rig.submits() == 1
    assert [r.client_order_id.value for r in summary.results] == ["S1-E"]
    assert rig.gate.portfolio.position_qty(AAPL.id) == Decimal(5)
    kinds = source.kinds_at_ack[delivery_id]
    assert kinds.index("risk.decision") < kinds.index("broker.submit")
    assert rig.source.pending == 0
    assert summary.stopped_because == "max signals (1) reached"


async def test_malformed_message_is_audited_with_its_error_and_acked_nothing_sent() -> None:
    rig = Rig()
    rig.price("100")
    rig.source.push_raw('{"signal_id": "S1", "side": "SIDEWAYS"}')
    async with rig.gate:
        summary = await rig.service(max_signals=1).run(asyncio.Event())
        [record] = await rig.records("signal.malformed")
    assert summary.malformed == 1
    assert "InvalidValue" in str(record["error"])
    assert "SIDEWAYS" in str(record["raw"])
    assert rig.source.pending == 0
    assert rig.submits() == 0
    assert rig.broker.calls_to("qualify") == []


async def test_duplicate_delivery_is_acked_without_resubmitting() -> None:
    rig = Rig()
    rig.price("100")
    rig.source.push(signal("S1"))
    rig.source.push_raw(encode_signal(signal("S1")))
    async with rig.gate:
        summary = await rig.service(max_signals=2).run(asyncio.Event())
        [duplicate] = await rig.records("signal.duplicate")
    assert rig.submits() == 1
    assert (summary.gated, summary.duplicates) == (1, 1)
    assert duplicate["signal_id"] == "S1"
    assert rig.source.pending == 0


async def test_an_exception_in_one_signal_is_audited_and_the_loop_goes_on() -> None:
    rig = Rig()
    rig.price("100")
    # The broker trades LOT in lots of 100: S1's 5 (whole shares, valid as a signal) cannot
    # become an order request on the qualified instrument, which raises InvalidValue.
    rig.broker.add_instrument(Stock("LOT", size_increment=Decimal(100)))
    rig.source.push(signal("S1", instrument=Stock("LOT")))
    rig.source.push(signal("S2"))
    async with rig.gate:
        summary = await rig.service(max_signals=2).run(asyncio.Event())
        [failed] = await rig.records("signal.failed")
    assert failed["signal_id"] == "S1"
    assert "multiple of the size increment 100" in str(failed["error"])
    assert (summary.failed, summary.gated) == (1, 1)
    assert [r.client_order_id.value for r in summary.results] == ["S2-E"]
    assert rig.source.pending == 0


async def test_failing_source_is_recorded_once_and_the_service_carries_on() -> None:
    rig = Rig()
    rig.price("100")
    rig.source.push(signal("S1"))
    flaky = Flaky(rig, receive_failures=3)
    options = ServiceOptions(max_signals=1, error_backoff=0.01, **FAST)
    async with rig.gate:
        summary = await SignalService(rig.gate, flaky, rig.clock, options=options).run(
            asyncio.Event()
        )
        [error] = await rig.records("service.source_error")
    assert summary.source_errors == 3
    assert "connection reset" in str(error["error"])
    assert (summary.gated, rig.submits()) == (1, 1)


async def test_failed_ack_is_recorded_and_the_redelivery_is_not_resubmitted() -> None:
    rig = Rig()
    rig.price("100")
    rig.source.push(signal("S1"))
    flaky = Flaky(rig, ack_failures=1)
    options = ServiceOptions(max_signals=2, **FAST)
    async with rig.gate:
        service = SignalService(rig.gate, flaky, rig.clock, options=options)
        task = asyncio.create_task(service.run(asyncio.Event()))
        await asyncio.sleep(0.05)
        rig.clock.advance(31)  # the unacknowledged delivery becomes due again
        summary = await asyncio.wait_for(task, 5)
        [failed_ack] = await rig.records("signal.ack_failed")
    assert "connection reset" in str(failed_ack["error"])
    assert (summary.gated, summary.duplicates, summary.unacked) == (1, 1, 1)
    assert rig.submits() == 1
    assert rig.source.pending == 0


async def test_stop_between_deliveries_leaves_the_rest_for_redelivery() -> None:
    rig = Rig()
    rig.price("100")
    for sid in ("S1", "S2", "S3"):
        rig.source.push(signal(sid))
    stop = asyncio.Event()

    class StopAfterFirstAck(AckRecorder):
        async def ack(self, delivery_id: str) -> None:
            await super().ack(delivery_id)
            stop.set()  # SIGTERM arrives while the batch is being handled

    source = StopAfterFirstAck(rig)
    async with rig.gate:
        summary = await SignalService(
            rig.gate, source, rig.clock, options=ServiceOptions(**FAST)
        ).run(stop)
    assert summary.gated == 1
    assert summary.stopped_because == "stop requested"
    assert rig.source.pending == 2  # delivered, not acknowledged: they come again


async def test_delivery_taken_by_a_consumer_that_crashed_is_redelivered_and_processed_once() -> (
    None
):
    rig = Rig()
    rig.price("100")
    rig.source.push(signal("S1"))
    [taken] = await rig.source.receive(max_count=1, timeout=0.01)  # then that consumer died
    rig.clock.advance(31)  # past the visibility timeout
    async with rig.gate:
        summary = await rig.service(max_signals=1).run(asyncio.Event())
    assert taken.signal == signal("S1")
    assert summary.gated == 1
    assert rig.submits() == 1
    assert rig.source.pending == 0


async def test_crash_between_processing_and_ack_is_idempotent_after_restart() -> None:
    rig = Rig()
    rig.price("100")
    delivery_id = rig.source.push(signal("S1"))
    crashing = CrashAtAck(rig)
    await rig.gate.start()
    first = SignalService(rig.gate, crashing, rig.clock, options=ServiceOptions(**FAST))
    task = asyncio.create_task(first.run(asyncio.Event()))
    await asyncio.wait_for(crashing.reached.wait(), 5)
    task.cancel()  # the process dies before acknowledging
    with pytest.raises(asyncio.CancelledError):
        await task
    await rig.gate.stop()
    assert rig.submits() == 1
    assert rig.source.pending == 1

    rig.gate = rig.new_gate()  # a restart: empty portfolio and duplicate guard, same audit store
    rig.clock.advance(31)
    async with rig.gate:
        summary = await rig.service(max_signals=1).run(asyncio.Event())
    assert summary.duplicates == 1
    assert rig.submits() == 1
    assert rig.source.pending == 0
    assert delivery_id in rig.source.acked


@pytest.mark.parametrize("kind", ["malformed", "valid"])
async def test_outcome_that_cannot_be_audited_is_not_acknowledged(kind: str) -> None:
    rig = Rig()
    rig.price("100")
    if kind == "malformed":
        rig.source.push_raw("not json")
    else:
        rig.source.push(signal("S1"))
    async with rig.gate:
        await rig.audit.close()  # the store is gone
        summary = await rig.service(max_signals=1).run(asyncio.Event())
    assert summary.unacked == 1
    assert rig.source.pending == 1  # it will be delivered again
    assert rig.submits() == 0


async def test_signal_whose_order_could_not_be_sent_is_recorded_as_failed_and_acked() -> None:
    rig = Rig()
    rig.price("100")
    rig.source.push(Signal(SignalId("Z1"), Stock("ZZZZ"), Side.BUY, T0, quantity=Decimal(1)))
    async with rig.gate:
        summary = await rig.service(max_signals=1).run(asyncio.Event())
        [failed] = await rig.records("signal.failed")
    assert summary.status_counts() == {"FAILED": 1}
    assert "Z1-E" in str(failed["error"])
    assert "ZZZZ" in str(failed["error"])
    assert rig.source.pending == 0


def test_seen_ids_are_bounded_and_forget_the_least_recent_first() -> None:
    seen = SeenSignalIds(2)
    for sid in ("A", "B", "A", "C"):
        seen.add(SignalId(sid))
    assert "A" in seen
    assert "C" in seen
    assert "B" not in seen
    assert len(seen) == 2


@pytest.mark.parametrize(
    ("field", "value"),
    [("max_count", 0), ("receive_timeout", 0), ("max_signals", 0), ("idle_exit", -1.0)],
)
def test_bad_service_options_name_the_field_and_the_value(field: str, value: object) -> None:
    with pytest.raises(InvalidValue) as error:
        ServiceOptions(**{field: value})  # type: ignore[arg-type]
    assert f"ServiceOptions.{field}" in str(error.value)
    assert repr(value) in str(error.value)


def test_summary_counts_every_result_but_keeps_only_the_recent_ones() -> None:
    summary = ServiceSummary()
    results = [
        OrderResult(ClientOrderId(f"S{n}-E"), OrderResultStatus.DENIED, T0, ExecutionMode.PAPER)
        for n in range(RECENT_RESULTS + 5)
    ]
    summary.add_results(results)
    assert summary.status_counts() == {"DENIED": RECENT_RESULTS + 5}
    assert len(summary.results) == RECENT_RESULTS
    assert summary.results[0].client_order_id == ClientOrderId("S5-E")
