"""The lookup over HTTP.

- Caller look-up for operators: `GET /v1/callers/{phone}`, what the screen shows while the
  phone rings. For whoever may read clients (`clients:read`); every look-up of a number is a
  line of the audit log (`caller.look_up`, the number as the subject), and the number is
  masked in the access log like everywhere in the logs.
- The client base for CRMs, with the checks and messages of the CSV import; the same request
  twice changes nothing the second time and says so (`"result": "unchanged"`):
  `PUT /v1/clients/{external_id}` (`clients:write`; another owner than the client has takes
  `owners:write` too), `DELETE /v1/clients/{external_id}` and
  `PUT /v1/clients/{external_id}/owner` (`clients:write` and `owners:write`: a head, an
  administrator, an integration given `clients:write`), `PUT /v1/employees/{email}`
  (`employees:write`), `POST /v1/leads/{lead_id}/outcome` to deals.closed (`deals:write`).
  A bad field answers 422 with the field in `where`; each change is a line of the audit log
  (`client.upsert`, `client.delete`, `client.owner`, `employee.upsert`, `deal.outcome`).
"""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Response
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from faststream.kafka import KafkaBroker
from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.lookup import service
from services.lookup.changes import (KEEP, Refusal, client_record, employee_record,
                                     posted_outcome)
from services.lookup.service import Lookup
from shared.access.http import Access, ErrorAnswer, Guard, Refused, errors
from shared.access.principals import NotAllowed, Principal, Scope



class UnknownCaller(ErrorAnswer):
    """A number that is not in the client base."""

    known: Literal[False] = False
    phone: str = Field(description="The number, normalised (E.164).", examples=["+79161234567"])


def caller_routes(broker: KafkaBroker) -> APIRouter:
    api = APIRouter(tags=["callers"])
    guard = Guard(broker)

    @api.get("/v1/callers/{phone}", responses={
        **errors(400, 401, 403),
        404: {"model": UnknownCaller, "description": "Not in the client base"}})
    async def look_up_caller(phone: str,
                             principal: Principal = Depends(guard.allow(Scope.CLIENTS_READ)),
                             deps: Lookup = Depends(Lookup.provider(broker)),
                             access: Access = Depends(Access.provider(broker))) -> JSONResponse:
        view = await service.look_up_caller(deps, phone)
        if view is None:
            return JSONResponse(
                {"error": f"{phone!r} is not a phone number", "where": "phone"}, status_code=400
            )
        record, ownership, shopping = view.caller, view.ownership, view.shopping
        await access.store.audit(principal, "caller.look_up", view.phone,
                                 {"known": record.client is not None})
        if record.client is None:
            return JSONResponse(
                {"known": False, "phone": view.phone,
                 "error": f"{view.phone} is not in the client base", "where": "phone"},
                status_code=404,
            )
        return JSONResponse({
            "known": True,
            "phone": view.phone,
            "client": record.client.model_dump(mode="json"),
            "segment": record.client.segment.value,
            "owner": ({"employee_id": str(ownership.owner.employee_id),
                       "name": ownership.owner.name,
                       "department": ownership.owner.department.value,
                       "since": ownership.since.isoformat()} if ownership else None),
            "open_leads": [lead.model_dump(mode="json") for lead in record.open_leads],
            "recent_contacts": [c.model_dump(mode="json") for c in record.recent_contacts],
            "shopping_around": shopping is not None,
            "shopping_reasons": shopping.reasons if shopping else [],
        })

    return api


# --- the client base for CRMs ----------------------------------------------------------------

_STATUS = {"invalid": 422, "conflict": 409, "not_found": 404}


@contextmanager
def _refusals_answered() -> Iterator[None]:
    """A refused request answers with its status and the field (`{"error", "where"}`)."""
    try:
        yield
    except Refusal as refusal:
        raise Refused(_STATUS[refusal.kind], refusal.reason, refusal.where) from None
    except NotAllowed as refusal:
        raise Refused(403, str(refusal), refusal.where) from None


def _unstorable(value: Any) -> str | None:
    """Why PostgreSQL could not store this text (or a text in this list), if it could not."""
    if isinstance(value, str):
        if "\x00" in value:
            return "the text holds a NUL character"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "the text is not valid Unicode"
    elif isinstance(value, list):
        return next(filter(None, map(_unstorable, value)), None)
    return None


class _Request(BaseModel):
    """A CRM's request body: no field the API does not know, only text the client base can
    store."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        if problem := _unstorable(value):
            raise ValueError(problem)
        return value


NumberText = Annotated[str, Field(max_length=64)]
_NO_NUL = r"^[^\x00]*$"
ExternalId = Annotated[str, PathParam(max_length=200, pattern=_NO_NUL,
                                      description="The CRM's id of the client.",
                                      examples=["crm-10452"])]
EmailPath = Annotated[str, PathParam(max_length=320, pattern=_NO_NUL,
                                     description="The employee's e-mail.",
                                     examples=["anna.ivanova@example.ru"])]


class PhoneIn(_Request):
    number: NumberText = Field(
        description="A phone number as the CRM writes it; one without the country code is "
        "read in the lookup's region.", examples=["+7 999 000-12-34"])
    contact_name: str | None = Field(default=None, max_length=500,
                                     description="Who answers this number.",
                                     examples=["Ivan Petrov"])


class ClientIn(_Request):
    """A client as the CRM has it. A field left out stays as it is; `tax_id` null clears the
    tax id, `owner_email` null frees the client, `phones` and `number_ranges` list all of the
    client's numbers (null or empty: none)."""

    name: str = Field(max_length=500, description="The client's name.",
                      examples=["ООО Ромашка"])
    segment: str = Field(max_length=100, description="individual, small_business, corporate "
                         "or large_corporate (or the words the CSV import knows).",
                         examples=["corporate"])
    phones: list[PhoneIn | NumberText] | None = Field(
        default=None, max_length=1000,
        description="The client's numbers: a number, or a number with its contact name. A "
        "number another client had moves to this one.",
        examples=[[{"number": "+7 999 000-12-34", "contact_name": "Ivan Petrov"}]])
    number_ranges: list[NumberText] | None = Field(
        default=None, max_length=1000,
        description="Prefixes that cover a company's whole PBX range.",
        examples=[["+7 999 000-"]])
    tax_id: str | None = Field(default=None, max_length=64, description="INN.",
                               examples=["7701234567"])
    owner_email: str | None = Field(
        default=None, max_length=320,
        description="The e-mail of the employee who owns the client; null: nobody.",
        examples=["anna.ivanova@example.ru"])


class EmployeeIn(_Request):
    """An employee as the CRM has them. A field left out (or null) stays as it is, and a new
    employee gets the client base's defaults (its default capacity, active, not on leave);
    `extension` and `direct_number` null take the line away."""

    name: str = Field(max_length=500, description="The employee's name.",
                      examples=["Anna Ivanova"])
    department: str = Field(max_length=100, description="client or commercial.",
                            examples=["commercial"])
    role: str = Field(max_length=100, description="agent or head.", examples=["agent"])
    extension: Annotated[str, Field(max_length=32)] | Annotated[int, Field(ge=0)] | None = (
        Field(default=None, description="Internal extension: 2 to 6 digits.",
              examples=["101"]))
    direct_number: NumberText | None = Field(default=None, description="Direct number.",
                                             examples=["+7 999 000-01-01"])
    capacity: Annotated[int, Field(le=2**31 - 1)] | Annotated[str, Field(max_length=32)] | None \
        = Field(default=None, description="How many leads the employee works at once.",
                examples=[5])
    # The example is a former employee: an API fuzzer that sends the examples makes nobody
    # who could be routed calls or given leads.
    active: bool | None = Field(default=None, description="False when the employee has left.",
                                examples=[False])
    on_leave: bool | None = Field(default=None, description="True while on leave.")


class OwnerIn(_Request):
    owner_email: str | None = Field(
        max_length=320, description="The e-mail of the new owner; null frees the client.",
        examples=["anna.ivanova@example.ru"])


class OutcomeIn(_Request):
    outcome: Literal["won", "lost"] = Field(description="won or lost.", examples=["won"])
    value: Decimal | None = Field(default=None, ge=0, max_digits=20, decimal_places=4,
                                  description="The final value of the deal.",
                                  examples=["1200000"])
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$",
                                 description="ISO 4217 currency of the value.", examples=["RUB"])


class Moved(BaseModel):
    number: str = Field(description="The number or range (E.164 digits).")
    from_external_id: str | None = Field(description="The client that had it.")


class ClientChanged(BaseModel):
    result: Literal["created", "updated", "unchanged"] = Field(
        description="unchanged: the client base held the client as sent already.")
    client_id: uuid.UUID
    external_id: str
    changed: list[str] = Field(description="The fields this request changed.",
                               examples=[["phones", "owner_email"]])
    moved: list[Moved] = Field(description="Numbers taken over from another client.")


class EmployeeChanged(BaseModel):
    result: Literal["created", "updated", "unchanged"]
    employee_id: uuid.UUID
    email: str
    changed: list[str] = Field(examples=[["extension"]])


class OwnerOut(BaseModel):
    employee_id: uuid.UUID
    email: str
    name: str


class OwnerChanged(BaseModel):
    result: Literal["updated", "unchanged"]
    client_id: uuid.UUID
    external_id: str
    owner: OwnerOut | None = Field(description="The owner from now on; null: nobody.")


class ClientDeleted(BaseModel):
    result: Literal["deleted"] = "deleted"
    client_id: uuid.UUID
    external_id: str
    leads_kept: int = Field(description="The client's leads, kept (without the client) as "
                            "the history of its deals.")


class OutcomeReported(BaseModel):
    result: Literal["published", "unchanged"] = Field(
        description="published to deals.closed; unchanged: reported so already.")
    lead_id: uuid.UUID
    event_id: uuid.UUID = Field(description="The DealClosed event's id (the same every time).")
    outcome: Literal["won", "lost"]


def _given(body: BaseModel, name: str, value: Any) -> Any:
    """The field's value, or KEEP when the request left it out."""
    return value if name in body.model_fields_set else KEEP


def client_base_routes(broker: KafkaBroker) -> APIRouter:
    """What a CRM changes in the client base, with a token of `clients:write` (and
    `owners:write` for owners and removals), `employees:write` or `deals:write`; each change
    is a line of the audit log."""
    api = APIRouter(tags=["client base"])
    guard = Guard(broker)
    Deps = Annotated[Lookup, Depends(Lookup.provider(broker))]
    ClientsWriter = Annotated[Principal, Depends(guard.allow(Scope.CLIENTS_WRITE))]
    OwnersWriter = Annotated[Principal, Depends(guard.allow(Scope.CLIENTS_WRITE,
                                                             Scope.OWNERS_WRITE))]
    EmployeesWriter = Annotated[Principal, Depends(guard.allow(Scope.EMPLOYEES_WRITE))]
    DealsWriter = Annotated[Principal, Depends(guard.allow(Scope.DEALS_WRITE))]

    @api.put("/v1/clients/{external_id}", response_model=ClientChanged, responses={
        201: {"model": ClientChanged, "description": "Created"},
        **errors(401, 403, 404, 409, 422)})
    async def put_client(external_id: ExternalId, body: ClientIn, principal: ClientsWriter,
                         deps: Deps, response: Response) -> ClientChanged:
        with _refusals_answered():
            phones = _given(body, "phones", [
                (p.number, p.contact_name) if isinstance(p, PhoneIn) else (p, None)
                for p in body.phones or ()])
            record = client_record(
                external_id, name=body.name, segment=body.segment,
                tax_id=_given(body, "tax_id", body.tax_id), phones=phones,
                number_ranges=_given(body, "number_ranges", body.number_ranges or []),
                owner_email=_given(body, "owner_email", body.owner_email),
                region=deps.rules.default_region)
            changed = await service.upsert_client(deps, record, principal)
        response.status_code = 201 if changed.result == "created" else 200
        return ClientChanged(
            result=changed.result, client_id=changed.subject_id,
            external_id=record.external_id, changed=changed.fields,
            moved=[Moved(number=m.number, from_external_id=m.from_external_id)
                   for m in changed.moved or ()])

    @api.delete("/v1/clients/{external_id}", response_model=ClientDeleted,
                responses=errors(401, 403, 404, 422))
    async def delete_client(external_id: ExternalId, principal: OwnersWriter,
                            deps: Deps) -> ClientDeleted:
        with _refusals_answered():
            client_id, leads_kept = await service.delete_client(deps, external_id, principal)
        return ClientDeleted(client_id=client_id, external_id=external_id.strip(),
                             leads_kept=leads_kept)

    @api.put("/v1/clients/{external_id}/owner", response_model=OwnerChanged,
             responses=errors(401, 403, 404, 422))
    async def put_owner(external_id: ExternalId, body: OwnerIn, principal: OwnersWriter,
                        deps: Deps) -> OwnerChanged:
        with _refusals_answered():
            changed, owner = await service.set_owner(deps, external_id, body.owner_email,
                                                     principal)
        return OwnerChanged(
            result="updated" if changed.result == "updated" else "unchanged",
            client_id=changed.subject_id, external_id=external_id.strip(),
            owner=(OwnerOut(employee_id=owner.employee_id, email=owner.email, name=owner.name)
                   if owner else None))

    @api.put("/v1/employees/{email}", response_model=EmployeeChanged, responses={
        201: {"model": EmployeeChanged, "description": "Created"},
        **errors(401, 403, 404, 409, 422)})
    async def put_employee(email: EmailPath, body: EmployeeIn, principal: EmployeesWriter,
                           deps: Deps, response: Response) -> EmployeeChanged:
        with _refusals_answered():
            record = employee_record(
                email, name=body.name, department=body.department, role=body.role,
                extension=_given(body, "extension", body.extension),
                direct_number=_given(body, "direct_number", body.direct_number),
                capacity=body.capacity, active=body.active, on_leave=body.on_leave,
                region=deps.rules.default_region)
            changed = await service.upsert_employee(deps, record, principal)
        response.status_code = 201 if changed.result == "created" else 200
        return EmployeeChanged(result=changed.result, employee_id=changed.subject_id,
                               email=record.email, changed=changed.fields)

    @api.post("/v1/leads/{lead_id}/outcome", response_model=OutcomeReported, responses={
        202: {"model": OutcomeReported, "description": "Published to deals.closed"},
        **errors(401, 403, 404, 409, 422)})
    async def post_outcome(lead_id: uuid.UUID, body: OutcomeIn, principal: DealsWriter,
                           deps: Deps, response: Response) -> OutcomeReported:
        with _refusals_answered():
            posted = posted_outcome(body.outcome, body.value, body.currency)
            result, event_id = await service.report_outcome(deps, lead_id, posted, principal)
        response.status_code = 202 if result == "published" else 200
        return OutcomeReported(result=result, lead_id=lead_id, event_id=event_id,
                               outcome=posted.outcome)

    return api
