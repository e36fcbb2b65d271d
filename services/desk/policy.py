"""What the people's screens show: pure decisions over the calls as the desk heard of them,
no I/O, the clock passed in. Which call goes on whose screen, what its card says, and the
verdict of the qualification form, validated as `calls.qualified` validates it."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from shared import business
from shared.access.principals import AccessRole, Principal
from shared.events import (CallEnriched, CallerStatus, CallLifecycle, CallQualified, CallRouted,
                           ContactRef, Department, Destination, EmployeeRef, LeadRef,
                           LifecyclePhase, Segment,
                           ShoppingRule, Stage, derive_event_id, stable_id)
from shared.settings import AssignmentSettings, DeskSettings

# The router's rule ids the card reads off a ring-time decision (CallRouted.rule_ids): the
# owner got the call, or the owner was not available (off shift, on leave, left).
OWNER_RULE = "ring.owner"
OWNER_UNAVAILABLE_RULE = "ring.owner_unavailable"

RECENT_CONTACTS_SHOWN = 5


@dataclass(frozen=True)
class DeskRules:
    """How long a card stays: a PBX that never reports the end of a call must not leave its
    card on the screen for good. How much the department's average counts in a negotiator's
    chance (the assignment's prior strength: the screens show the chances it ranks by). The
    time zone of the dashboard's hours and days."""

    card_lifetime: timedelta = timedelta(minutes=DeskSettings.model_fields["card_minutes"].default)
    prior_strength: float = business.PRIOR_STRENGTH
    time_zone: str = DeskSettings.model_fields["time_zone"].default

    @classmethod
    def from_settings(cls, settings: DeskSettings,
                      assignment: AssignmentSettings | None = None) -> DeskRules:
        """`assignment`: the assignment's settings, read from the same environment
        (SWITCHBOARD_ASSIGNMENT_PRIOR_STRENGTH)."""
        return cls(card_lifetime=timedelta(minutes=settings.card_minutes),
                   prior_strength=(assignment.prior_strength if assignment is not None
                                   else cls.prior_strength),
                   time_zone=settings.time_zone)


# --- the calls, as heard on Kafka -----------------------------------------------------------


@dataclass(frozen=True)
class DeskCall:
    """A call as the desk heard of it; each part is set once, by whichever event comes."""

    call_id: str
    started_at: datetime
    enriched: CallEnriched | None = None
    routed: CallRouted | None = None  # the ring-time decision
    answered_at: datetime | None = None
    hung_up_at: datetime | None = None
    qualified: CallQualified | None = None

    @property
    def caller(self) -> str | None:
        if self.enriched is not None:
            return self.enriched.caller
        return self.routed.caller if self.routed else None


DeskEvent = CallEnriched | CallRouted | CallLifecycle | CallQualified


def heard(call: DeskCall | None, event: DeskEvent) -> DeskCall | None:
    """The call with what `event` adds; None when the event tells a screen nothing (a
    decision after qualification: the verdict itself already took the card off)."""
    if isinstance(event, CallRouted) and event.stage is not Stage.RING:
        return None
    known = call or DeskCall(event.call_id, _started_at(event))
    if isinstance(event, CallEnriched):
        return merged(known, DeskCall(event.call_id, event.started_at, enriched=event))
    if isinstance(event, CallRouted):
        return merged(known, DeskCall(event.call_id, known.started_at, routed=event))
    if isinstance(event, CallQualified):
        return merged(known, DeskCall(event.call_id, known.started_at, qualified=event))
    if event.phase is LifecyclePhase.ANSWERED:
        return merged(known, DeskCall(event.call_id, known.started_at,
                                      answered_at=event.occurred_at))
    return merged(known, DeskCall(event.call_id, known.started_at, hung_up_at=event.occurred_at))


def _started_at(event: DeskEvent) -> datetime:
    return event.started_at if isinstance(event, CallEnriched) else event.occurred_at


def merged(first: DeskCall, second: DeskCall) -> DeskCall:
    """Both views of one call (the database's and this replica's): each part from whichever
    has it, the first one's when both do; the PBX's start time once the enrichment has it."""
    enriched = first.enriched or second.enriched
    return DeskCall(
        call_id=first.call_id,
        started_at=enriched.started_at if enriched else min(first.started_at, second.started_at),
        enriched=enriched,
        routed=first.routed or second.routed,
        answered_at=first.answered_at or second.answered_at,
        hung_up_at=first.hung_up_at or second.hung_up_at,
        qualified=first.qualified or second.qualified,
    )


# --- whose screen ---------------------------------------------------------------------------


class CardState(StrEnum):
    RINGING = "ringing"
    ANSWERED = "answered"
    ENDED = "ended"  # hung up after it was answered: the verdict is still to be given


def card_state(call: DeskCall) -> CardState:
    if call.hung_up_at is not None:
        return CardState.ENDED
    return CardState.ANSWERED if call.answered_at is not None else CardState.RINGING


def card_shown(call: DeskCall, now: datetime, rules: DeskRules) -> bool:
    """A card is on the screen while its call rings or is talked, and after an answered call
    ended until it is qualified. A call that ended unanswered drops off; so does one older
    than the card's lifetime (its PBX never said it ended)."""
    if call.qualified is not None:
        return False
    if call.hung_up_at is not None and call.answered_at is None:
        return False
    return now - call.started_at <= rules.card_lifetime


@dataclass(frozen=True)
class Ringing:
    """Where a call rings: at one employee's line, and/or the client department desk."""

    employee_id: uuid.UUID | None
    desk: bool


def ringing_at(call: DeskCall) -> Ringing:
    """The ring-time decision says where the phone rings (the employee it names; the desk
    when it sends the call to the client department). Until it comes: the line the caller
    dialed, an employee's or a general line (which the desk answers)."""
    if call.routed is not None:
        return Ringing(call.routed.employee_id,
                       call.routed.destination is Destination.CLIENT_DEPARTMENT)
    if call.enriched is not None:
        dialed = call.enriched.dialed_employee
        return Ringing(dialed.employee_id if dialed else None, dialed is None)
    return Ringing(None, False)


def opens_operator_screen(viewer: Principal) -> bool:
    """The operator's screen is the client department's, who answer the desk's calls, and
    the heads' (who watch the desk) and administrators'."""
    return bool(viewer.roles & {AccessRole.OPERATOR, AccessRole.HEAD, AccessRole.ADMIN})


def on_operator_screen(viewer: Principal, call: DeskCall, now: datetime,
                       rules: DeskRules) -> bool:
    """A call is on a person's operator screen while its card is shown and it rings at their
    own line, or at the desk for those who answer or watch it."""
    if not card_shown(call, now, rules) or not opens_operator_screen(viewer):
        return False
    ringing = ringing_at(call)
    if viewer.employee_id is not None and ringing.employee_id == viewer.employee_id:
        return True
    return ringing.desk


def on_own_line(viewer: Principal, call: DeskCall, now: datetime, rules: DeskRules) -> bool:
    """A call is on a person's own screen (a negotiator's, an owner's) while its card is
    shown and it rings at their own line."""
    return (viewer.employee_id is not None and card_shown(call, now, rules)
            and ringing_at(call).employee_id == viewer.employee_id)


# --- what a card says -------------------------------------------------------------------------


class Shift(StrEnum):
    ON_SHIFT = "on_shift"
    UNAVAILABLE = "unavailable"  # off shift, on leave or left: the router said so
    UNKNOWN = "unknown"  # no decision yet


@dataclass(frozen=True)
class OwnerView:
    name: str
    department: Department
    since: datetime
    shift: Shift
    on_leave: bool
    active: bool


@dataclass(frozen=True)
class Reason:
    """A sentence of the card, as a catalog key and its values (translated by the page)."""

    key: str
    values: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Card:
    """What the operator's card of a call shows."""

    dom_id: str
    call_id: str
    state: CardState
    started_at: datetime
    caller: str | None
    caller_withheld: bool
    known: bool
    client_name: str | None
    segment: Segment | None
    owner: OwnerView | None
    destination: Destination | None
    destination_employee: str | None
    open_leads: list[LeadRef]
    recent_contacts: list[ContactRef]
    shopping_around: bool
    shopping_reasons: list[Reason]

    @property
    def offers_create_client(self) -> bool:
        """An unknown caller with a number: the operator may add them to the client base."""
        return not self.known and self.caller is not None and not self.caller_withheld

    @property
    def offers_not_this_client(self) -> bool:
        """A known caller may be a wrong match (a number that changed hands)."""
        return self.known and self.caller is not None


def dom_id(call_id: str) -> str:
    """The HTML id of a call's card: stable for the call, safe in a CSS selector."""
    return f"call-{stable_id('desk-card', call_id).hex[:20]}"


def owner_shift(routed: CallRouted | None) -> Shift:
    """Whether the owner can take the call now, as the ring-time decision found it."""
    if routed is None:
        return Shift.UNKNOWN
    if OWNER_UNAVAILABLE_RULE in routed.rule_ids:
        return Shift.UNAVAILABLE
    if OWNER_RULE in routed.rule_ids:
        return Shift.ON_SHIFT
    return Shift.UNKNOWN


def shopping_reasons(enriched: CallEnriched) -> list[Reason]:
    """Why the lookup flagged the caller, in words a person reads in their language."""
    return reasons_of(enriched.shopping_rules,
                      enriched.ownership.owner if enriched.ownership else None,
                      enriched.dialed_employee, enriched.recent_contacts)


def reasons_of(rules: Sequence[ShoppingRule], owner: EmployeeRef | None,
               reached: EmployeeRef | None, contacts: Sequence[ContactRef]) -> list[Reason]:
    """The shopping-around rules that fired, as sentences: the client's owner, whom this call
    reached (None: a general line) and the recent contacts the rules counted."""
    reasons = []
    for rule in rules:
        if rule is ShoppingRule.OTHER_THAN_OWNER:
            if reached is not None:
                reasons.append(Reason("shopping.other_than_owner",
                                      {"owner": owner.name if owner else "?",
                                       "reached": reached.name}))
            else:
                reasons.append(Reason("shopping.other_than_owner_general",
                                      {"owner": owner.name if owner else "?"}))
        elif rule is ShoppingRule.MANY_EMPLOYEES:
            employees = {c.employee.employee_id for c in contacts if c.employee}
            if reached is not None:
                employees.add(reached.employee_id)
            reasons.append(Reason("shopping.many_employees", {"count": len(employees)}))
    return reasons


def card(call: DeskCall) -> Card:
    enriched, routed = call.enriched, call.routed
    client = enriched.client if enriched else None
    owner = None
    if enriched is not None and enriched.ownership is not None:
        ref = enriched.ownership.owner
        owner = OwnerView(ref.name, ref.department, enriched.ownership.since,
                          owner_shift(routed), ref.on_leave, ref.active)
    withheld = enriched is not None and enriched.caller_status == CallerStatus.WITHHELD
    return Card(
        dom_id=dom_id(call.call_id),
        call_id=call.call_id,
        state=card_state(call),
        started_at=call.started_at,
        caller=call.caller,
        caller_withheld=withheld or (enriched is None and call.caller is None),
        known=client is not None or (routed is not None and routed.client_id is not None),
        client_name=client.name if client else (routed.client_name if routed else None),
        segment=client.segment if client else (routed.segment if routed else None),
        owner=owner,
        destination=routed.destination if routed else None,
        destination_employee=routed.employee_name if routed else None,
        open_leads=list(enriched.open_leads) if enriched else [],
        recent_contacts=list(enriched.recent_contacts[:RECENT_CONTACTS_SHOWN])
        if enriched else [],
        shopping_around=bool(enriched and enriched.shopping_around)
        or bool(routed and routed.shopping_around),
        shopping_reasons=shopping_reasons(enriched) if enriched else [],
    )


# --- the verdict ---------------------------------------------------------------------------

# The verdict's fields are CallQualified's own (the same types and constraints), so the form
# and the API refuse exactly what `calls.qualified` would.
VERDICT_FIELDS = ("category", "deal_value", "currency", "company_size", "corporate", "product")
COMMENT_MAX = 2000

Verdict: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "Verdict",
    __config__=ConfigDict(extra="forbid", frozen=True),
    __doc__="A person's verdict on a call they answered (the fields of `CallQualified`).",
    **{name: (CallQualified.model_fields[name].annotation,
              copy.deepcopy(CallQualified.model_fields[name])) for name in VERDICT_FIELDS},
    comment=(str | None, Field(default=None, max_length=COMMENT_MAX,
                               description="What else the person wants to note.",
                               examples=["calls back on Monday"])),
    operator_id=(uuid.UUID | None, Field(
        default=None, description="For an integration: the operator who answered the call "
        "(a person's verdict is theirs).", examples=["5b0e9d3c-2a7f-4c81-b6e4-9f3a1d7c0b25"])),
)


@dataclass(frozen=True)
class FieldError:
    """A problem of one field, as pydantic found it: the page words it in the person's
    language (`error.<field>.<type>`, else `error.<type>`)."""

    field: str
    type: str
    context: Mapping[str, Any]
    message: str  # pydantic's own words, for machines and the fallback


def field_errors(error: ValidationError) -> list[FieldError]:
    found: dict[str, FieldError] = {}
    for problem in error.errors():
        loc = [str(part) for part in problem.get("loc", ()) if part != "body"]
        name = loc[0] if loc else ""
        found.setdefault(name, FieldError(name, problem.get("type", "value_error"),
                                          dict(problem.get("ctx") or {}),
                                          problem.get("msg", "not valid")))
    return list(found.values())


def typed_number(text: str) -> str:
    """A deal value as people type it: '1 500 000', '1500000,50'."""
    compact = "".join(text.split()).replace("\u00a0", "")
    if "," in compact and "." not in compact:
        compact = compact.replace(",", ".")
    return compact


def verdict_from_form(form: Mapping[str, str]) -> BaseModel | list[FieldError]:
    """The verdict of the qualification form, or the problems of its fields."""

    def text(name: str) -> str | None:
        value = (form.get(name) or "").strip()
        return value or None

    value = text("deal_value")
    currency = text("currency")
    data: dict[str, Any] = {
        "category": text("category"),
        "deal_value": typed_number(value) if value else None,
        "currency": currency.upper() if currency else None,
        "company_size": text("company_size"),
        "corporate": (form.get("corporate") or "").lower() in ("on", "true", "1", "yes"),
        "product": text("product"),
        "comment": text("comment"),
    }
    try:  # an empty field is a field not given: the model's default, or "missing"
        return Verdict.model_validate({k: v for k, v in data.items() if v is not None})
    except ValidationError as e:
        return field_errors(e)


def qualified_event(call: DeskCall, verdict: BaseModel, operator_id: uuid.UUID,
                    now: datetime) -> CallQualified:
    """The verdict as `calls.qualified` carries it, with what the router needs to know of the
    caller. Its id follows from the call: a call is qualified once."""
    enriched, routed = call.enriched, call.routed
    client = enriched.client if enriched else None
    fields = {name: getattr(verdict, name) for name in VERDICT_FIELDS}
    return CallQualified(
        event_id=derive_event_id(call.call_id, "qualified"),
        occurred_at=now,
        call_id=call.call_id,
        operator_id=operator_id,
        caller=call.caller,
        client_id=client.client_id if client else (routed.client_id if routed else None),
        client_name=client.name if client else (routed.client_name if routed else None),
        segment=client.segment if client else (routed.segment if routed else None),
        **fields,
    )


def same_verdict(given: BaseModel, recorded: CallQualified) -> bool:
    """A verdict sent again (a retry) is the one recorded: nothing changes."""
    return all(_comparable(getattr(given, n)) == _comparable(getattr(recorded, n))
               for n in VERDICT_FIELDS)


def _comparable(value: Any) -> Any:
    return value.normalize() if isinstance(value, Decimal) else value



# --- a person's corrections of the client base -----------------------------------------------


@dataclass(frozen=True)
class ClientRecord:
    """A client as the client base has it: what a correction through the CRM API keeps."""

    external_id: str | None
    name: str
    segment: str
    phones: dict[str, str | None]  # number -> the contact name behind it
    number_ranges: list[str]


def without_number(record: ClientRecord, number: str) -> dict[str, Any] | Reason:
    """"Not this client": the body of the lookup's `PUT /v1/clients/{external_id}` that takes
    the number off the client (the fields left out stay as they are). A number the client
    has through its number range, or a client without a CRM id, is fixed in the CRM."""
    if record.external_id is None:
        return Reason("client.no_external_id", {"client": record.name})
    if number not in record.phones:
        prefix = next((p for p in record.number_ranges if number.startswith(p)), None)
        if prefix is not None:
            return Reason("client.number_in_range", {"client": record.name, "prefix": prefix})
        return Reason("client.number_not_theirs", {"client": record.name})
    return {"name": record.name, "segment": record.segment,
            "phones": [{"number": phone, "contact_name": contact}
                       for phone, contact in record.phones.items() if phone != number]}


def new_client_id(call_id: str) -> str:
    """The CRM id of a client a person adds from a call's card: one per call, so the same
    form sent twice adds one client."""
    return f"desk-{stable_id('desk-client', call_id).hex[:16]}"
