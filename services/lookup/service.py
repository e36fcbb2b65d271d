"""The lookup's use cases: what happens when a call comes in (who is calling, whose client,
are they shopping around), when an operator looks a number up, and when a CRM changes the
client base (clients, their numbers and owners, employees) or reports a lead's outcome. The
client base is read and changed through its ports; the decisions are the policy's (calls) and
`changes`' (a CRM's requests)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from services.lookup.changes import (KEEP, ClientChanges, ClientRecord, Employee,
                                     EmployeeRecord, Keep, LeadToClose, MovedNumber,
                                     PostedOutcome, Refusal, ReportedOutcome,
                                     Result, StoredClient, StoredEmployee, checked,
                                     client_changes, deal_closed, employee_changes,
                                     reported_again)
from services.lookup.policy import (CallerRecord, Contact, LookupRules, Shopping,
                                    current_ownership, detect_shopping, enrich, shopping_alert,
                                    with_contacts)
from shared import topics
from shared.access.principals import Principal, Scope, require
from shared.clientbase import checks
from shared.events import (CallEnriched, CallReceived, ContactRef, EmployeeRef, Ownership,
                           ShoppingAroundDetected, utcnow)
from shared.kafka import PublisherPort
from shared.phones import normalise
from shared.wiring import Dependencies


class ChangeTransaction(Protocol):
    """What a CRM's request reads and writes within one transaction of the client base; the
    records it reads are locked until the transaction ends."""

    async def lock_client(self, external_id: str) -> StoredClient | None: ...

    async def insert_client(self, record: ClientRecord) -> bool:
        """False when a client with that external id exists already."""

    async def numbers_of_other_clients(self, client_id: uuid.UUID, phones: list[str],
                                       prefixes: list[str]) -> list[MovedNumber]:
        """Which of these numbers and ranges other clients hold (with whose they are)."""

    async def write_client(self, client_id: uuid.UUID, changes: ClientChanges,
                           now: datetime) -> None: ...

    async def delete_client(self, client_id: uuid.UUID) -> int:
        """Deletes the client with its numbers, ranges, owner and contacts; its leads stay,
        without the client. The number of leads kept."""

    async def employee_by_email(self, email: str) -> Employee | None: ...

    async def lock_employee(self, email: str) -> StoredEmployee | None: ...

    async def insert_employee(self, record: EmployeeRecord) -> bool:
        """False when an employee with that e-mail exists already."""

    async def update_employee(self, employee_id: uuid.UUID, columns: dict[str, Any]) -> None: ...

    async def holder_of_line(self, column: str, value: str, email: str) -> str | None:
        """The e-mail of another employee whose `column` (extension, direct_number) is
        `value`."""

    async def lock_lead(self, lead_id: uuid.UUID) -> LeadToClose | None: ...

    async def reported_outcome(self, lead: LeadToClose, since: datetime
                               ) -> ReportedOutcome | None:
        """The lead's outcome as reported earlier: by this API since `since`, or as the lead's
        status says."""

    async def audit(self, principal: Principal, action: str, subject: str,
                    detail: dict[str, Any]) -> None:
        """A line of the audit log, written with the change (or not at all)."""


class ClientBasePort(Protocol):
    """What the use cases need from the client base (`repository.ClientBase`)."""

    async def find_caller(self, number: str | None, call_id: str = "") -> CallerRecord: ...

    async def find_callers(self, calls: Sequence[tuple[str | None, str]]) -> list[CallerRecord]:
        """`find_caller` for each (number, call id), in the same order."""

    async def find_employees_by_line(self, dialed: Sequence[str]) -> dict[str, EmployeeRef]:
        """The employee whose extension or direct number each dialed line is, when one is."""

    async def heads_of_sales(self) -> list[uuid.UUID]: ...

    async def record_contacts(self, contacts: Sequence[Contact]) -> None:
        """Each call's contact, once whatever the redeliveries."""

    def transaction(self) -> AbstractAsyncContextManager[ChangeTransaction]:
        """One transaction of a CRM's request."""


@dataclass(frozen=True)
class Lookup(Dependencies):
    clients: ClientBasePort
    publisher: PublisherPort
    rules: LookupRules


@dataclass(frozen=True)
class Enrichment:
    """What a call is published as: the call enriched, and the alert when the caller is
    shopping around, both under one key (the client's, else the caller's)."""

    enriched: CallEnriched
    alert: ShoppingAroundDetected | None
    key: bytes


async def enrich_calls(deps: Lookup, calls: Sequence[CallReceived]) -> list[Enrichment]:
    """Each call with its client, owner and history, in order; a known caller's contact is
    recorded (before anything is published). A call sees the contacts of the calls before
    it, in the same batch too."""
    now = utcnow()
    callers = await deps.clients.find_callers([(c.caller, c.call_id) for c in calls])
    lines = await deps.clients.find_employees_by_line([c.dialed for c in calls])
    earlier: dict[uuid.UUID, list[ContactRef]] = {}
    contacts: list[Contact] = []
    decided: list[tuple[CallEnriched, Shopping | None]] = []
    for call, found in zip(calls, callers, strict=True):
        reached = lines.get(call.dialed)
        caller = found
        if found.client is not None:
            caller = with_contacts(found, [c for c in earlier.get(found.client.client_id, ())
                                           if c.call_id != call.call_id])
        enriched = enrich(call, caller, reached, now=now, lapse=deps.rules.ownership_lapse)
        shopping = None
        if enriched.client:
            client_id = enriched.client.client_id
            shopping = detect_shopping(enriched.ownership, reached, caller.recent_contacts,
                                       now=now, rules=deps.rules.shopping)
            contacts.append(Contact(call.call_id, client_id,
                                    reached.employee_id if reached else None,
                                    call.caller, call.dialed, call.started_at))
            earlier.setdefault(client_id, []).append(ContactRef(
                call_id=call.call_id, occurred_at=call.started_at,
                employee=EmployeeRef(employee_id=reached.employee_id, name=reached.name,
                                     department=reached.department) if reached else None))
        if shopping is not None:
            enriched = enriched.model_copy(
                update={"shopping_around": True, "shopping_rules": shopping.rules})
        decided.append((enriched, shopping))
    await deps.clients.record_contacts(contacts)
    heads = (await deps.clients.heads_of_sales()
             if any(shopping for _, shopping in decided) else [])
    return [Enrichment(
        enriched,
        shopping_alert(enriched, shopping, heads, now=now) if shopping else None,
        topics.event_key(enriched.client.client_id if enriched.client else None,
                         enriched.caller, enriched.call_id),
    ) for enriched, shopping in decided]


async def publish_enrichment(deps: Lookup, enrichment: Enrichment) -> None:
    """To calls.enriched; when the caller is shopping around, the owner and the heads of sales
    are alerted first (alerts.shopping-around, with the same key)."""
    if enrichment.alert is not None:
        await deps.publisher.publish(topics.ALERTS_SHOPPING_AROUND, enrichment.alert,
                                     key=enrichment.key)
    await deps.publisher.publish(topics.CALLS_ENRICHED, enrichment.enriched, key=enrichment.key)


@dataclass(frozen=True)
class CallerView:
    """What the operator's screen shows for a number (`caller.client` is None when the number
    is not in the client base)."""

    phone: str
    caller: CallerRecord
    ownership: Ownership | None = None
    shopping: Shopping | None = None


async def look_up_caller(deps: Lookup, phone: str) -> CallerView | None:
    """The caller behind a number as a person typed it; None when it is not a phone number."""
    number = normalise(phone, deps.rules.default_region)
    if number.value is None:  # withheld or unparseable
        return None
    caller = await deps.clients.find_caller(number.value)
    if caller.client is None:
        return CallerView(number.value, caller)
    now = utcnow()
    # Without a call in progress only the history can tell: K employees within W.
    return CallerView(
        number.value, caller,
        ownership=current_ownership(caller.ownership, now, deps.rules.ownership_lapse),
        shopping=detect_shopping(None, None, caller.recent_contacts, now=now,
                                 rules=deps.rules.shopping),
    )


# ------------------------------------------------------------------ a CRM changes the client base


@dataclass(frozen=True)
class Changed:
    """What a request did: `fields` are the ones it changed."""

    result: Result
    subject_id: uuid.UUID
    fields: list[str]
    moved: list[MovedNumber] | None = None


async def upsert_client(deps: Lookup, record: ClientRecord, principal: Principal) -> Changed:
    """The client as the CRM has it, created or brought in line (audit: `client.upsert`). A
    number or range another client had moves to this one (and is reported); an owner named by
    e-mail owns the client from now on, as after an import. Giving a client another owner
    needs `owners:write` (`NotAllowed`, nothing changes); naming the owner it has does not."""
    now = utcnow()
    async with deps.clients.transaction() as tx:
        owner = await _owner_id(tx, record.owner_email)
        stored = await tx.lock_client(record.external_id)
        created = False
        if stored is None:
            created = await tx.insert_client(record)
            stored = await tx.lock_client(record.external_id)
            if stored is None:  # the id is another client's, made with another external id
                raise Refusal("conflict", f"the id of client {record.external_id} is taken "
                              "by another client", "external_id")
        changes = client_changes(stored, record, owner)
        if not isinstance(changes.owner, Keep):
            require(principal, Scope.OWNERS_WRITE, "owner_email",
                    "only a head or an administrator gives a client another owner")
        moved = await tx.numbers_of_other_clients(
            stored.client_id, [p.number for p in changes.phones or ()],
            list(changes.number_ranges or ()))
        result: Result = "created" if created else "updated" if changes.fields else "unchanged"
        fields = [*(record.columns() if created else {}), *changes.fields]
        if result != "unchanged":
            await tx.write_client(stored.client_id, changes, now)
            await tx.audit(principal, "client.upsert", record.external_id, {
                "result": result, "client_id": stored.client_id, "changed": fields,
                "moved": [{"number": m.number, "from": m.from_external_id} for m in moved]})
    return Changed(result, stored.client_id, fields, moved)


async def set_owner(deps: Lookup, external_id: str, owner_email: str | None,
                    principal: Principal) -> tuple[Changed, Employee | None]:
    """The client's owner from now on, named by e-mail (None: nobody owns the client; audit:
    `client.owner`). For whoever may `owners:write` (the endpoint's guard checks it)."""
    now = utcnow()
    email = None if owner_email is None else checked(checks.owner_email, owner_email,
                                                     "owner_email")
    async with deps.clients.transaction() as tx:
        owner = await _owner_employee(tx, email)
        stored = await _existing_client(tx, external_id)
        record = ClientRecord(stored.external_id, stored.name, stored.segment,
                              owner_email=email)
        changes = client_changes(stored, record, owner.employee_id if owner else None)
        result: Result = "updated" if changes.fields else "unchanged"
        if changes.fields:
            await tx.write_client(stored.client_id, changes, now)
            await tx.audit(principal, "client.owner", external_id, {
                "client_id": stored.client_id, "owner": owner.email if owner else None,
                "previous_owner_id": stored.owner_id})
    return Changed(result, stored.client_id, changes.fields), owner


async def delete_client(deps: Lookup, external_id: str, principal: Principal
                        ) -> tuple[uuid.UUID, int]:
    """The client is no longer in the client base (audit: `client.delete`): its numbers call
    in as an unknown caller's. Its leads stay, as history. (client id, leads kept) For whoever
    may `owners:write` (the endpoint's guard checks it)."""
    async with deps.clients.transaction() as tx:
        stored = await _existing_client(tx, external_id)
        leads_kept = await tx.delete_client(stored.client_id)
        await tx.audit(principal, "client.delete", external_id,
                       {"client_id": stored.client_id, "name": stored.name,
                        "leads_kept": leads_kept})
    return stored.client_id, leads_kept


async def upsert_employee(deps: Lookup, record: EmployeeRecord, principal: Principal
                          ) -> Changed:
    """The employee as the CRM has them, created or brought in line (audit:
    `employee.upsert`). An extension or direct number another employee holds is not taken
    from them (a conflict), as in an import."""
    async with deps.clients.transaction() as tx:
        stored = await tx.lock_employee(record.email)
        columns = record.given() if stored is None else employee_changes(stored, record)
        for line in ("extension", "direct_number"):
            value = columns.get(line)
            if value and (holder := await tx.holder_of_line(line, value, record.email)):
                raise Refusal("conflict", checks.held_by(value, holder), line)
        created = stored is None and await tx.insert_employee(record)
        if stored is None and not created:  # made meanwhile by another request
            stored = await tx.lock_employee(record.email)
            assert stored is not None
            columns = employee_changes(stored, record)
        employee_id = stored.employee_id if stored else record.employee_id
        if stored is not None and columns:
            await tx.update_employee(employee_id, columns)
        result: Result = "created" if created else "updated" if columns else "unchanged"
        if result != "unchanged":
            await tx.audit(principal, "employee.upsert", record.email, {
                "result": result, "employee_id": employee_id, "changed": list(columns)})
    return Changed(result, employee_id, list(columns))


# A report the assignment has not counted yet (the lead is still open) is found by its audit
# line within this time. One repeated later than that (the assignment stopped for a day) is
# published again, with the same event id, which the assignment drops: it records a lead's
# outcome once.
REPORTS_IN_FLIGHT = timedelta(days=1)


async def report_outcome(deps: Lookup, lead_id: uuid.UUID, posted: PostedOutcome,
                         principal: Principal
                         ) -> tuple[Literal["published", "unchanged"], uuid.UUID]:
    """Publishes the lead's outcome to deals.closed once (audit: `deal.outcome`); the same
    report again publishes nothing. ("published" or "unchanged", the event id)"""
    now = utcnow()
    async with deps.clients.transaction() as tx:
        lead = await tx.lock_lead(lead_id)
        if lead is None:
            raise Refusal("not_found", f"no lead {lead_id}", "lead_id")
        deal = deal_closed(lead, posted, now)
        if reported_again(await tx.reported_outcome(lead, now - REPORTS_IN_FLIGHT), posted):
            return "unchanged", deal.event_id
        # Published while the lead is locked: a second report waits and then finds this one.
        await deps.publisher.publish(topics.DEALS_CLOSED, deal,
                                     key=topics.event_key(lead.client_id, lead.lead_id))
        await tx.audit(principal, "deal.outcome", str(lead_id),
                       {**posted.detail(), "event_id": deal.event_id})
    return "published", deal.event_id


async def _existing_client(tx: ChangeTransaction, external_id: str) -> StoredClient:
    stored = await tx.lock_client(checked(checks.external_id, external_id, "external_id"))
    if stored is None:
        raise Refusal("not_found", f"no client {external_id} in the client base",
                      "external_id")
    return stored


async def _owner_employee(tx: ChangeTransaction, email: str | None) -> Employee | None:
    if email is None:
        return None
    owner = await tx.employee_by_email(email)
    if owner is None:
        raise Refusal("invalid", checks.no_such_employee(email), "owner_email")
    return owner


async def _owner_id(tx: ChangeTransaction, email: str | None | Keep) -> uuid.UUID | None | Keep:
    if isinstance(email, Keep):
        return KEEP
    owner = await _owner_employee(tx, email)
    return owner.employee_id if owner else None
