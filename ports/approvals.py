"""Approvals: what every `Broker` adapter checks before it sends an order.

`Broker.submit` / `submit_list` accept only `ApprovedOrder`s, and an `ApprovedOrder` is honoured
only while it is *issued*. The `ExecutionGate` issues its approvals after the order's decision
and its `broker.submit` record are durable (it hands the durable audit entries over as evidence,
and `issue` checks they approve exactly those orders), and withdraws them when its broker call
returns. An adapter calls `redeem(orders)` before it sends anything: an approval that is
hand-built, copied, altered (`attrs.evolve`), already used, withdrawn, or a value that is not an
`ApprovedOrder` at all raises `UnapprovedOrder`, and nothing is sent. Each approval is good for
one send.

Contract for adapters (proved for each by the broker contract suite): on a refusal, emit an
`UnapprovedOrderRefused` on `events()` (so the running gate audits the attempt as
`broker.unapproved_order`), then raise the `UnapprovedOrder`; `redeem` builds both.

Test support: `issue_without_audit_for_tests` issues an approval with no durable decision. It is
for adapter contract suites and adapter tests only, reached through
`ordergate.application.testing.approvals.mint_approval_for_tests`; nothing else may call it
(`tests/safety/test_no_order_without_gate_approval.py` checks the source tree).

What this is not: Python has no private memory, so code in the same process that sets out to
forge (calling `issue` with made-up audit entries, or patching this module) is not stopped. The
guarantee is that no documented entry point, no object one returns, and no accident — an
`ApprovedOrder` built by hand, copied, altered or replayed — gets an order to a broker.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from ordergate.domain.audit import AuditEntry
from ordergate.domain.errors import UnapprovedOrder
from ordergate.domain.events import UnapprovedOrderRefused
from ordergate.domain.risk.decision import ApprovedOrder

__all__ = ["APPROVALS", "ApprovalLedger", "Refusal", "redeem"]


class Refusal(UnapprovedOrder):
    """`UnapprovedOrder` with the event an adapter reports on its stream before raising."""

    def event(self, now: datetime) -> UnapprovedOrderRefused:
        """The `UnapprovedOrderRefused` to emit (at the adapter's `now`)."""
        return UnapprovedOrderRefused(self.client_order_id, self.reason, now, now)


class ApprovalLedger:
    """The approvals issued and not yet used or withdrawn, by object identity.

    Identity, not equality: an equal copy of an issued approval is not issued. Holding the
    object while it is issued also keeps its `id()` from being reused.
    """

    def __init__(self) -> None:
        self._live: dict[int, ApprovedOrder] = {}

    def issue(self, approved: Sequence[ApprovedOrder], evidence: Sequence[AuditEntry]) -> None:
        """Issue `approved`, whose decisions and `broker.submit` record are the durable
        `evidence` (the entries the audit log returned). Raises `ValueError` if the evidence
        does not approve exactly these orders."""
        ids = [a.request.client_order_id.value for a in approved]
        decided = {
            str(entry.record.payload.get("request", {}).get("client_order_id"))
            for entry in evidence
            if entry.record.kind == "risk.decision" and entry.record.payload.get("approved")
        }
        submits = [
            list(entry.record.payload.get("client_order_ids", ()))
            for entry in evidence
            if entry.record.kind == "broker.submit"
        ]
        if not approved or not decided.issuperset(ids) or ids not in submits:
            raise ValueError(
                f"approvals for {ids} need durable approving decisions and their broker.submit "
                f"record; the evidence holds decisions for {sorted(decided)} and submits {submits}"
            )
        for order in approved:
            self._live[id(order)] = order

    def withdraw(self, approved: Iterable[ApprovedOrder]) -> None:
        """Withdraw approvals not used (the gate's broker call has returned)."""
        for order in approved:
            if self._live.get(id(order)) is order:
                del self._live[id(order)]

    def redeem(self, orders: Iterable[object]) -> tuple[ApprovedOrder, ...]:
        """Use the approvals of one send: all of them, or none (raises `Refusal`)."""
        listed = list(orders)
        if not listed:
            raise Refusal("(empty list)", "an order list needs at least one approved order")
        for order in listed:
            if not isinstance(order, ApprovedOrder):
                raise Refusal("(not an order)", f"a {type(order).__name__} is not an ApprovedOrder")
            if self._live.get(id(order)) is not order:
                raise Refusal(
                    order.request.client_order_id.value,
                    "its approval was not issued by the risk gate, or was already used",
                )
        for order in listed:
            del self._live[id(order)]
        return tuple(listed)  # type: ignore[arg-type]  # every member checked above

    def issue_without_audit_for_tests(self, approved: ApprovedOrder) -> ApprovedOrder:
        """TEST SUPPORT ONLY: issue an approval with no durable decision (adapter contract
        suites). Use `ordergate.application.testing.approvals.mint_approval_for_tests`."""
        self._live[id(approved)] = approved
        return approved

    def __len__(self) -> int:
        return len(self._live)


APPROVALS = ApprovalLedger()
"""The process's ledger: the gate issues into it, every adapter redeems from it."""


def redeem(orders: Iterable[object]) -> tuple[ApprovedOrder, ...]:
    """Use the approvals of one send from the process ledger (raises `Refusal`)."""
    return APPROVALS.redeem(orders)
