"""The events that travel between the services: one frozen pydantic model per event type.

Every event carries the same envelope. Output event ids are derived from the input, so a
replayed input produces the same output id and consumers can drop duplicates.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

# The namespace of all Switchboard event ids (UUIDv5): fixed forever, or replays change ids.
EVENT_NAMESPACE = uuid.UUID("6f1c1a52-4a43-4f6e-9f55-2b9d0a4c8e11")


def stable_id(*parts: object) -> uuid.UUID:
    """The same id for the same `parts`, on every replica and every run (UUIDv5): what makes a
    redelivery or a re-import find what the first one made (an employee by e-mail, a client by
    the CRM's id, the lead of a call)."""
    return uuid.uuid5(EVENT_NAMESPACE, ":".join(str(p) for p in parts))


def derive_event_id(*parts: object) -> uuid.UUID:
    """The deterministic id of an event made from `parts` (an input event id, a stage...)."""
    return stable_id(*parts)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Event(BaseModel):
    """The envelope every event carries."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    event_id: uuid.UUID = Field(
        description="Unique id of this event; the same input always yields the same id, "
        "so consumers drop duplicates by it.",
        examples=["0b6c2f8e-3f57-5d2b-9a43-c0d1e7f2a9b4"],
    )
    event_type: str = Field(description="The event's name, e.g. `CallReceived`.")
    schema_version: int = Field(
        default=1,
        description="Version of this event's schema. Changes within a version are additive.",
        examples=[1],
    )
    occurred_at: AwareDatetime = Field(
        description="When the event happened (UTC).", examples=["2026-11-27T10:00:00Z"]
    )
    call_id: str = Field(
        description="The call this event is about, stable across the whole pipeline: "
        "`<pbx>:<pbx call id>`.",
        examples=["office-1:a1b2"],
    )


class CallerStatus(StrEnum):
    """What the intake could make of the caller id."""

    EXTERNAL = "external"  # a valid outside number, normalised to E.164
    INTERNAL = "internal"  # an internal extension of our own PBX
    WITHHELD = "withheld"  # anonymous / restricted / empty caller id
    UNPARSEABLE = "unparseable"  # something that is not a phone number; kept raw


class Segment(StrEnum):
    INDIVIDUAL = "individual"
    SMALL_BUSINESS = "small_business"
    CORPORATE = "corporate"
    LARGE_CORPORATE = "large_corporate"


class Department(StrEnum):
    CLIENT = "client"
    COMMERCIAL = "commercial"


class Role(StrEnum):
    """An employee's role in their department."""

    AGENT = "agent"
    HEAD = "head"


class Destination(StrEnum):
    OWNER = "owner"
    CLIENT_DEPARTMENT = "client_department"
    COMMERCIAL_DEPARTMENT = "commercial_department"
    NON_COMMERCIAL = "non_commercial"


class Strategy(StrEnum):
    OWNER = "owner"
    CLIENT_DEPARTMENT = "client_department"
    HEAD_KEPT = "head_kept"
    HEAD_ASSIGNED = "head_assigned"
    STRONGEST_AVAILABLE = "strongest_available"


class CallFacts(BaseModel):
    """What the PBX told us about the call, normalised. Carried along the pipeline."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    pbx: str = Field(description="Name of the PBX the call came from.", examples=["office-1"])
    caller: str | None = Field(
        description="Caller number in E.164, or the extension for an internal call; "
        "null when withheld or unparseable.",
        examples=["+79161234567"],
    )
    caller_raw: str = Field(
        description="The caller id exactly as the PBX sent it.", examples=["8 (916) 123-45-67"]
    )
    caller_status: CallerStatus = Field(
        description="external, internal, withheld or unparseable.", examples=["external"]
    )
    dialed: str = Field(
        description="The number or internal extension the caller dialed (E.164 when it is a "
        "number).",
        examples=["+74951000000", "104"],
    )
    started_at: AwareDatetime = Field(
        description="When the PBX saw the call start (UTC).", examples=["2026-11-27T10:00:00Z"]
    )


class CallReceived(Event, CallFacts):
    """A new inbound call, accepted by the intake (exactly one per call)."""

    event_type: Literal["CallReceived"] = "CallReceived"
    dialect: str = Field(
        default="generic", description="The PBX dialect it arrived in.", examples=["generic"]
    )


class LifecyclePhase(StrEnum):
    ANSWERED = "answered"
    HUNG_UP = "hung_up"


class CallLifecycle(Event):
    """A later moment of a call the intake accepted: answered or hung up. For analysts."""

    event_type: Literal["CallLifecycle"] = "CallLifecycle"
    pbx: str = Field(description="Name of the PBX.", examples=["office-1"])
    phase: LifecyclePhase = Field(description="answered or hung_up.", examples=["answered"])
    dialect: str = Field(description="The PBX dialect it arrived in.", examples=["asterisk"])
    detail: str | None = Field(
        default=None, description="The PBX's own word for it (e.g. a hang-up cause).",
        examples=["NORMAL_CLEARING"],
    )


class ClientRef(BaseModel):
    model_config = ConfigDict(frozen=True)

    client_id: uuid.UUID = Field(description="Id of the client in the client base.",
                               examples=["3f2b8c1e-6d4a-4b7e-9c12-5a8e0f1d2c3b"])
    name: str = Field(description="Client's name.", examples=["Romashka LLC"])
    segment: Segment = Field(description="Client segment.", examples=["corporate"])


class EmployeeRef(BaseModel):
    model_config = ConfigDict(frozen=True)

    employee_id: uuid.UUID = Field(description="Id of the employee.",
                                   examples=["8d5e2a71-0c3f-4e9b-a6d4-1b7c9e2f5a80"])
    name: str = Field(description="Employee's name.", examples=["Anna Ivanova"])
    department: Department = Field(description="client or commercial.", examples=["commercial"])
    role: Role = Field(default=Role.AGENT, description="agent or head.")
    active: bool = Field(default=True, description="False when the employee has left.",
                          examples=[True])
    on_leave: bool = Field(default=False, description="True while on leave.", examples=[False])
    extension: str | None = Field(default=None, description="Internal extension, if any.",
                                  examples=["101"])
    number: str | None = Field(default=None, description="Direct number (E.164), if any.",
                               examples=["+74951000101"])


class Ownership(BaseModel):
    model_config = ConfigDict(frozen=True)

    owner: EmployeeRef = Field(description="The employee who owns the client now.")
    since: AwareDatetime = Field(description="Owner since.", examples=["2026-10-02T08:30:00Z"])
    last_activity_at: AwareDatetime = Field(description="Last contact of the owner with them.",
                                             examples=["2026-11-20T09:12:00Z"])


class ContactRef(BaseModel):
    """One earlier call of the client, from the contact log."""

    model_config = ConfigDict(frozen=True)

    call_id: str = Field(description="The earlier call.", examples=["office-1:a0f3"])
    occurred_at: AwareDatetime = Field(description="When it happened.",
                                        examples=["2026-11-20T09:12:00Z"])
    employee: EmployeeRef | None = Field(
        default=None, description="Who the client reached; null for a general line."
    )


class LeadRef(BaseModel):
    """An open lead of the client."""

    model_config = ConfigDict(frozen=True)

    lead_id: uuid.UUID = Field(description="Id of the lead.",
                               examples=["c7a1e4f2-9b3d-5e6a-8f01-2d4c6b8a0e13"])
    employee_id: uuid.UUID | None = Field(description="Who works on it.",
                                          examples=["8d5e2a71-0c3f-4e9b-a6d4-1b7c9e2f5a80"])
    department: Department = Field(description="The department of the lead.")
    created_at: AwareDatetime = Field(description="When it was created.",
                                      examples=["2026-11-20T09:15:00Z"])


class ShoppingRule(StrEnum):
    OTHER_THAN_OWNER = "other_than_owner"  # an owned client reached someone else
    MANY_EMPLOYEES = "many_employees"  # K different employees within a window W


class CallEnriched(Event, CallFacts):
    """A call with what the client base knows about the caller."""

    event_type: Literal["CallEnriched"] = "CallEnriched"
    client: ClientRef | None = Field(
        default=None, description="The client, when the caller is in the client base."
    )
    ownership: Ownership | None = Field(
        default=None, description="The client's current owner, when one is active."
    )
    dialed_employee: EmployeeRef | None = Field(
        default=None, description="The employee whose extension or direct number was dialed."
    )
    shopping_around: bool = Field(
        default=False,
        description="True when the client seems to be asking other employees for terms.",
        examples=[False],
    )
    shopping_rules: list[ShoppingRule] = Field(
        default_factory=list, description="The shopping-around rules that fired.",
        examples=[["other_than_owner"]],
    )
    open_leads: list[LeadRef] = Field(
        default_factory=list, description="The client's open leads."
    )
    recent_contacts: list[ContactRef] = Field(
        default_factory=list, description="The client's recent calls, newest first."
    )
    owner_head: EmployeeRef | None = Field(
        default=None,
        description="The head of the owner's department: who takes the call when the owner "
        "is not available.",
    )


class ShoppingAroundDetected(Event):
    """A client who seems to be getting terms from several employees: for the owner and
    the head of sales."""

    event_type: Literal["ShoppingAroundDetected"] = "ShoppingAroundDetected"
    client: ClientRef = Field(description="The client.")
    owner: EmployeeRef | None = Field(description="The current owner, if any.")
    reached: EmployeeRef | None = Field(
        description="Who the client reached with this call; null for a general line."
    )
    rules: list[ShoppingRule] = Field(min_length=1, description="The rules that fired.")
    reasons: list[str] = Field(min_length=1, description="Why, in words a person reads.",
                              examples=[["owned by Anna Ivanova but called Boris Petrov"]])
    history: list[ContactRef] = Field(description="The recent contacts that triggered it.")
    notify: list[uuid.UUID] = Field(
        description="Employees to tell: the owner and the head(s) of sales.",
        examples=[["8d5e2a71-0c3f-4e9b-a6d4-1b7c9e2f5a80", "1e6f4b2a-8c9d-4a3e-b5f7-0d2c4e6a8b91"]],
    )


class Category(StrEnum):
    COMMERCIAL = "commercial"
    OPERATIONAL = "operational"
    PERSONAL = "personal"
    SPAM = "spam"


class CompanySize(StrEnum):
    INDIVIDUAL = "individual"
    SMALL = "small"
    MEDIUM = "medium"
    LARGE = "large"


class SizeClass(StrEnum):
    """The size of a deal, by the rules' thresholds."""

    SMALL = "small"
    MEDIUM = "medium"
    LARGE = "large"


class Stage(StrEnum):
    RING = "ring"  # when the phone rings (on CallEnriched)
    QUALIFIED = "qualified"  # after the client department answered (on CallQualified)


class CallQualified(Event):
    """The client department's verdict on a call it answered, published by the operator's
    tool. It carries what the router needs, so the router stays stateless."""

    event_type: Literal["CallQualified"] = "CallQualified"
    category: Category = Field(
        description="commercial, operational, personal or spam.", examples=["commercial"]
    )
    deal_value: Decimal | None = Field(
        default=None, ge=0, description="Estimated deal value.", examples=["1500000"]
    )
    currency: str | None = Field(
        default=None, pattern=r"^[A-Z]{3}$", description="ISO 4217 currency of the value.",
        examples=["RUB"],
    )
    company_size: CompanySize | None = Field(
        default=None, description="Size of the caller's company, if the operator found out."
    )
    corporate: bool = Field(default=False, description="The caller is a corporate client.",
                            examples=[True])
    product: str | None = Field(default=None, max_length=200, description="What they want.",
                                  examples=["office furniture for 40 workplaces"])
    comment: str | None = Field(default=None, max_length=2000,
                                description="The operator's note on the call.",
                                examples=["calls back on Monday with the floor plan"])
    operator_id: uuid.UUID = Field(description="The client department operator who answered.",
                                 examples=["5b0e9d3c-2a7f-4c81-b6e4-9f3a1d7c0b25"])
    caller: str | None = Field(default=None, description="Caller number (E.164), if known.",
                                examples=["+79161234567"])
    client_id: uuid.UUID | None = Field(default=None, description="The client, if known.",
                                          examples=["3f2b8c1e-6d4a-4b7e-9c12-5a8e0f1d2c3b"])
    client_name: str | None = Field(default=None, description="The client's name, if known.",
                                     examples=["Romashka LLC"])
    segment: Segment | None = Field(default=None, description="The client's segment, if known.")


class DealClosed(Event):
    """A lead's outcome, from the CRM."""

    event_type: Literal["DealClosed"] = "DealClosed"
    lead_id: uuid.UUID = Field(description="The lead.",
                               examples=["c7a1e4f2-9b3d-5e6a-8f01-2d4c6b8a0e13"])
    outcome: Literal["won", "lost"] = Field(description="won or lost.", examples=["won"])
    final_value: Decimal | None = Field(
        default=None, ge=0, description="The value of the deal won.", examples=["1200000"]
    )
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$",
                                  description="ISO 4217 currency of the final value.",
                                  examples=["RUB"])


class CallRouted(Event):
    """The router's decision: where the call goes and why."""

    event_type: Literal["CallRouted"] = "CallRouted"
    caller: str | None = Field(description="Caller number (E.164) or null.",
                                examples=["+79161234567"])
    client_id: uuid.UUID | None = Field(description="The client, or null for an unknown caller.",
                                          examples=["3f2b8c1e-6d4a-4b7e-9c12-5a8e0f1d2c3b"])
    client_name: str | None = Field(default=None, description="The client's name, if known.",
                                     examples=["Romashka LLC"])
    destination: Destination = Field(
        description="owner, client_department, commercial_department or non_commercial.",
        examples=["owner"],
    )
    employee_id: uuid.UUID | None = Field(
        description="The employee the call goes to, when the decision names one.",
        examples=["8d5e2a71-0c3f-4e9b-a6d4-1b7c9e2f5a80"],
    )
    employee_name: str | None = Field(default=None, description="That employee's name.",
                                       examples=["Anna Ivanova"])
    extension: str | None = Field(
        default=None,
        description="Whom a PBX dials: the internal extension of the employee or desk the call "
        "goes to, when known.", examples=["101"])
    number: str | None = Field(
        default=None,
        description="Whom a PBX dials: the direct number (E.164) of that employee or desk, "
        "when known.", examples=["+74951000101"])
    reasons: list[str] = Field(
        min_length=1,
        description="Why, in words a person reads.",
        examples=[["owned by Anna Ivanova since 2026-10-02"]],
    )
    shopping_around: bool = Field(default=False, description="The shopping-around flag.",
                                   examples=[False])
    stage: Stage = Field(default=Stage.RING, description="ring or qualified.")
    rules_version: str | None = Field(
        default=None, description="Hash of the rules file the decision was made under.",
        examples=["9f2c4e1a7b3d"],
    )
    rule_ids: list[str] = Field(default_factory=list, description="The rules that fired.",
                                 examples=[["ring.owner", "departments.commercial.hours"]])
    segment: Segment | None = Field(default=None, description="The client's segment, if known.")
    category: Category | None = Field(default=None, description="Qualification category.")
    deal_value: Decimal | None = Field(default=None, description="Estimated deal value.",
                                       examples=["1500000"])
    currency: str | None = Field(default=None, description="Currency of the deal value.",
                                  examples=["RUB"])
    size_class: SizeClass | None = Field(
        default=None, description="small, medium or large, by the rules' thresholds."
    )
    operator_id: uuid.UUID | None = Field(
        default=None, description="The operator who qualified the call.",
        examples=["5b0e9d3c-2a7f-4c81-b6e4-9f3a1d7c0b25"],
    )


class ScoredCandidate(BaseModel):
    model_config = ConfigDict(frozen=True)

    employee_id: uuid.UUID = Field(description="A negotiator.",
                                   examples=["8d5e2a71-0c3f-4e9b-a6d4-1b7c9e2f5a80"])
    score: float = Field(description="Expected value of giving them the lead.",
                         examples=[540000.0])


class LeadAssigned(Event):
    """A lead was created and given to an employee."""

    event_type: Literal["LeadAssigned"] = "LeadAssigned"
    lead_id: uuid.UUID = Field(description="Id of the lead.",
                               examples=["c7a1e4f2-9b3d-5e6a-8f01-2d4c6b8a0e13"])
    client_id: uuid.UUID | None = Field(description="The client, if known.",
                                          examples=["3f2b8c1e-6d4a-4b7e-9c12-5a8e0f1d2c3b"])
    employee_id: uuid.UUID = Field(description="Who got the lead.",
                                   examples=["8d5e2a71-0c3f-4e9b-a6d4-1b7c9e2f5a80"])
    employee_name: str = Field(description="Their name.", examples=["Anna Ivanova"])
    department: Department = Field(description="The assignee's department.")
    strategy: Strategy = Field(description="How the assignee was chosen.", examples=["owner"])
    score: float | None = Field(
        default=None, description="Expected value of the chosen assignee, when scored.",
        examples=[540000.0],
    )
    runners_up: list[ScoredCandidate] = Field(
        default_factory=list, description="The next best candidates and their scores."
    )


class CallRejected(Event):
    """A message that could not be processed, with the reason. Never stops a consumer."""

    event_type: Literal["CallRejected"] = "CallRejected"
    call_id: str | None = Field(  # type: ignore[assignment]
        default=None, description="The call, when it could be read from the payload.",
        examples=["office-1:a1b2"],
    )
    service: str = Field(description="The service that rejected it.", examples=["intake"])
    source_topic: str | None = Field(
        description="Where the message came from (a topic, or `http`).", examples=["pbx.events"]
    )
    dialect: str | None = Field(default=None, description="The PBX dialect, for PBX payloads.",
                                  examples=["generic"])
    reason: str = Field(description="What was wrong.", examples=["field required"])
    where: str | None = Field(
        default=None, description="Where in the payload: a field path.", examples=["caller"]
    )
    payload: str = Field(description="The payload as received, truncated to 4 KiB.",
                         examples=['{"pbx": "office-1", "call_id": "a1b2", "caller": "+7916"}'])


MAX_REJECTED_PAYLOAD = 4096


def truncate_payload(raw: bytes | str) -> str:
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    return text[:MAX_REJECTED_PAYLOAD]
