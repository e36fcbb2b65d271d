"""Where a call goes: the department policy as pure functions of the call, the rules in
force and the time. No I/O, no clock: `now` is passed in.

Every decision names exactly one destination, records the version of the rules it was made
under and the ids of the rules that fired, and gives reasons a person reads. Rule ids that
name a part of the rules file are its path (`departments.commercial.hours`, `deal_size.RUB`,
`segments.large_corporate.ring`); the others name the company's policy in this module.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from services.router.rules import Desk, Rules
from shared.events import (CallEnriched, CallQualified, CallRouted, Category, ClientRef,
                           CompanySize, Department, Destination, EmployeeRef, Ownership, Segment,
                           SizeClass, Stage, derive_event_id)

# The ids of the policy's own rules (the rules file's parts are named by their path).
OWNER = "ring.owner"
OWNER_UNAVAILABLE = "ring.owner_unavailable"
HEAD_OF_DEPARTMENT = "ring.head_of_department"
DEPARTMENT_DESK = "ring.department_desk"
DESK = "ring.desk"
SHOPPING_AROUND = "ring.shopping_around"
NON_COMMERCIAL = "qualified.non_commercial"
LARGE_DEAL = "qualified.large_deal"
LARGE_COMPANY = "qualified.large_company"
SMALL_OR_MEDIUM = "qualified.small_or_medium"


@dataclass
class _Decision:
    destination: Destination
    employee: EmployeeRef | None = None
    employee_id: uuid.UUID | None = None
    reasons: list[str] = field(default_factory=list)
    rule_ids: list[str] = field(default_factory=list)


def _department_destination(department: Department) -> Destination:
    if department is Department.COMMERCIAL:
        return Destination.COMMERCIAL_DEPARTMENT
    return Destination.CLIENT_DEPARTMENT


def _hours_id(department: Department) -> str:
    return f"departments.{department.value}.hours"


def _words(segment: Segment) -> str:
    return segment.value.replace("_", " ")


# --- when the phone rings -----------------------------------------------------------------


def route(call: CallEnriched, rules: Rules, now: datetime) -> CallRouted:
    """Ring-time routing.

    - A client with an active owner goes back to the owner: both departments work from one
      client base, and a client must not get terms from a second salesperson.
    - When the owner is not available (has left, on leave, off shift by their department's
      working hours) the call goes to the head of the owner's department, with the reason:
      never silently to another salesperson. The destination stays `owner` (the head covers
      for the owner; rule `ring.head_of_department` says so). Without a head who can take
      it, it goes to the owner's department desk, and the decision says so.
    - A client without an owner goes where the rules send their segment (large corporate
      clients: the commercial department).
    - Anyone else goes to the client department desk, which takes every other inbound call.
    - The shopping-around flag travels with the decision.
    """
    client = call.client
    if client and call.ownership:
        decision = _owner_or_head(client, call.ownership, call.owner_head, rules, now)
    elif client:
        decision = _unowned_client(client, rules)
    else:
        if call.caller_status == "external":
            who = "unknown caller: not in the client base"
        else:
            who = f"caller id is {call.caller_status.value}: treated as an unknown caller"
        decision = _Decision(
            Destination.CLIENT_DEPARTMENT,
            reasons=[f"{who}; the {rules.desk(Destination.CLIENT_DEPARTMENT)} takes the call"],
            rule_ids=[DESK],
        )
    if call.shopping_around:
        fired = ", ".join(r.value for r in call.shopping_rules) or "flagged by the lookup"
        decision.reasons.append(f"the client seems to be shopping around ({fired}): "
                                f"the owner and the head of sales are told")
        decision.rule_ids.append(SHOPPING_AROUND)
    return _routed(call.event_id, call.call_id, call.caller, client.client_id if client else
                   None, client.name if client else None, decision, rules, now,
                   stage=Stage.RING, shopping_around=call.shopping_around,
                   segment=client.segment if client else None)


def _owner_or_head(client: ClientRef, ownership: Ownership, head: EmployeeRef | None,
                   rules: Rules, now: datetime) -> _Decision:
    owner = ownership.owner
    department = owner.department
    owned = f"{client.name} is owned by {owner.name} since {ownership.since.date().isoformat()}"
    rule_ids = [OWNER]
    if not owner.active:
        why = f"{owner.name} no longer works here"
    elif owner.on_leave:
        why = f"{owner.name} is on leave"
    else:
        rule_ids.append(_hours_id(department))
        hours = f"the {department.value} department works {rules.hours_text(department)}"
        if rules.on_shift(department, now):
            return _Decision(Destination.OWNER, owner, reasons=[
                f"{owned}; {owner.name} is on shift ({hours})"], rule_ids=rule_ids)
        local = rules.local_time(department, now)
        why = f"{owner.name} is off shift (it is {local:%a %Y-%m-%d %H:%M} there; {hours})"
    rule_ids.append(OWNER_UNAVAILABLE)
    if (head is not None and head.employee_id != owner.employee_id and head.active
            and not head.on_leave):
        # Still the owner's call: the head covers for the owner and the client stays theirs,
        # so the lead is the head's, not one for the department to pass on.
        return _Decision(Destination.OWNER, head, reasons=[
            f"{owned}, but {why}: the call goes to {head.name}, head of the "
            f"{department.value} department, not to another salesperson"],
            rule_ids=[*rule_ids, HEAD_OF_DEPARTMENT])
    destination = _department_destination(department)
    if head is None:
        no_head = f"no head of the {department.value} department is known"
    elif head.employee_id == owner.employee_id:
        no_head = f"{owner.name} is the head of the {department.value} department"
    elif not head.active:
        no_head = f"the head, {head.name}, no longer works here"
    else:
        no_head = f"the head, {head.name}, is on leave too"
    return _Decision(destination, reasons=[
        f"{owned}, but {why}, and {no_head}: the {rules.desk(destination)} takes the call"],
        rule_ids=[*rule_ids, DEPARTMENT_DESK])


def _unowned_client(client: ClientRef, rules: Rules) -> _Decision:
    segment_rule = rules.segment(client.segment)
    rule_ids = ([f"segments.{client.segment.value}.ring"]
                if rules.has_segment_rule(client.segment) else [])
    destination = Destination(segment_rule.ring)
    if destination is Destination.COMMERCIAL_DEPARTMENT:
        reason = (f"{client.name} is a {_words(client.segment)} client without an owner: "
                  f"the {rules.desk(destination)} takes the call")
    else:
        reason = (f"{client.name} is a known client without a current owner; "
                  f"the {rules.desk(destination)} takes the call")
        rule_ids.append(DESK)
    return _Decision(destination, reasons=[reason], rule_ids=rule_ids)


# --- after the client department qualified the call ---------------------------------------


@dataclass(frozen=True)
class _Size:
    size_class: SizeClass | None
    text: str
    rule_ids: list[str]


def _amount(value: Decimal, currency: str | None) -> str:
    return f"{value:,f} {currency}" if currency else f"{value:,f}"


def deal_size(value: Decimal | None, currency: str | None, rules: Rules) -> _Size:
    """Small below the currency's `medium` threshold, large from its `large` threshold."""
    if value is None:
        return _Size(None, "no deal value estimated", [])
    if currency is None:
        return _Size(None, f"deal value {value:,f} without a currency: it cannot be sized", [])
    thresholds = rules.thresholds(currency)
    if thresholds is None:
        return _Size(None, f"deal value {_amount(value, currency)}: the rules have no deal "
                           f"sizes for {currency}, so it cannot be sized", [])
    ids = [f"deal_size.{currency}"]
    if value >= thresholds.large:
        return _Size(SizeClass.LARGE, f"large deal: {_amount(value, currency)} (large from "
                                      f"{_amount(thresholds.large, currency)})", ids)
    if value >= thresholds.medium:
        return _Size(SizeClass.MEDIUM, f"medium deal: {_amount(value, currency)} (medium from "
                                       f"{_amount(thresholds.medium, currency)}, large from "
                                       f"{_amount(thresholds.large, currency)})", ids)
    return _Size(SizeClass.SMALL, f"small deal: {_amount(value, currency)} (medium from "
                                  f"{_amount(thresholds.medium, currency)})", ids)


def qualify(call: CallQualified, rules: Rules, now: datetime) -> CallRouted:
    """Routing after the client department answered and found out what the caller wants.

    - Operational, personal and spam calls end in the client department: no lead.
    - Commercial calls of a segment the rules send to one department go there; by default
      every large corporate client goes to the commercial department. A caller the operator
      marks as corporate with a large company counts as large corporate.
    - Other commercial calls: a large deal (by the currency's thresholds) or a large company
      goes to the head of sales' inbox; small and medium deals stay in the client department
      with the operator who qualified the call (the assignment decides finally).
    """
    large_corporate = call.segment is Segment.LARGE_CORPORATE or (
        call.corporate and call.company_size is CompanySize.LARGE)
    segment = Segment.LARGE_CORPORATE if large_corporate else call.segment
    size = deal_size(call.deal_value, call.currency, rules)
    who = call.client_name or "the caller"
    to_client = Destination.CLIENT_DEPARTMENT
    to_commercial = Destination.COMMERCIAL_DEPARTMENT
    if call.category is not Category.COMMERCIAL:
        decision = _Decision(Destination.NON_COMMERCIAL, reasons=[
            f"the client department found the call {call.category.value}, not a sale: "
            f"it ends in the client department, no lead"], rule_ids=[NON_COMMERCIAL])
    elif segment and rules.has_segment_rule(segment) and \
            rules.segment(segment).commercial != "by_deal_size":
        destination = Destination(rules.segment(segment).commercial)
        marked = (" (the operator found a corporate client with a large company)"
                  if segment is Segment.LARGE_CORPORATE and call.segment
                  is not Segment.LARGE_CORPORATE else "")
        decision = _Decision(
            destination,
            employee_id=call.operator_id if destination is to_client else None,
            reasons=[f"commercial, {who} is a {_words(segment)} client{marked}: commercial "
                     f"calls of this segment go to the {rules.desk(destination)}; {size.text}"],
            rule_ids=[f"segments.{segment.value}.commercial", *size.rule_ids])
    elif size.size_class is SizeClass.LARGE:
        decision = _Decision(to_commercial, reasons=[
            f"commercial, {size.text}: large deals go to the {rules.desk(to_commercial)}"],
            rule_ids=[LARGE_DEAL, *size.rule_ids])
    elif call.company_size is CompanySize.LARGE:
        decision = _Decision(to_commercial, reasons=[
            f"commercial, the caller's company is large ({size.text}): large companies go to "
            f"the {rules.desk(to_commercial)}"], rule_ids=[LARGE_COMPANY, *size.rule_ids])
    else:
        decision = _Decision(to_client, employee_id=call.operator_id, reasons=[
            f"commercial, {size.text}: the client department negotiates it; the operator who "
            f"qualified the call keeps the lead"], rule_ids=[SMALL_OR_MEDIUM, *size.rule_ids])
    return _routed(call.event_id, call.call_id, call.caller, call.client_id, call.client_name,
                   decision, rules, now, stage=Stage.QUALIFIED, segment=segment,
                   category=call.category, deal_value=call.deal_value, currency=call.currency,
                   size_class=size.size_class, operator_id=call.operator_id)


def _routed(input_event_id: uuid.UUID, call_id: str, caller: str | None,
            client_id: uuid.UUID | None, client_name: str | None, decision: _Decision,
            rules: Rules, now: datetime, **stage_fields: object) -> CallRouted:
    employee = decision.employee
    # Whom a PBX dials: the named employee's line, else the desk that takes the call.
    line: EmployeeRef | Desk | None = employee or (
        None if decision.employee_id else rules.desk_line(decision.destination))
    return CallRouted(
        event_id=derive_event_id(input_event_id, "routed"),
        occurred_at=now,
        call_id=call_id,
        caller=caller,
        client_id=client_id,
        client_name=client_name,
        destination=decision.destination,
        employee_id=employee.employee_id if employee else decision.employee_id,
        employee_name=employee.name if employee else None,
        extension=line.extension if line else None,
        number=line.number if line else None,
        reasons=decision.reasons,
        rules_version=rules.version,
        rule_ids=decision.rule_ids,
        **stage_fields,
    )
