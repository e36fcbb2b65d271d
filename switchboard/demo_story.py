"""The story `make run` plays, round after round, on the demo base: the seed's process as it
happens, one line per step, while the desk shows it to whoever signed in.

A round: an owned client calls its owner (a contact; the owner qualifies it as commercial, which
makes the owner's lead, or joins the open one); unknown callers reach the client department
desk and the operators qualify them (large deals for the head of sales' inbox, one the head
keeps there, one she keeps at once; a shopping-around call of an owned client to another
negotiator; an operational, a personal call, a small deal the operator keeps); the deadline
hands the waiting lead to the strongest negotiator; the outcomes come back.

The story acts the way people and PBXs do: calls are Asterisk (AMI) events on pbx.events, a
verdict is `POST /v1/calls/{call_id}/qualification` on the desk with the person's token, the head
keeps a lead with `POST /v1/leads/{lead_id}/keep` on the assignment, an outcome is
`POST /v1/leads/{lead_id}/outcome` on the lookup. It learns what happened from the topics. A step
that fails is printed with the reason and the story goes on.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.markup import escape

from shared import topics
from shared.events import (CallRejected, CallRouted, DealClosed, Destination,
                           LeadAssigned, ShoppingAroundDetected, Stage, Strategy)
from switchboard.demo import (CLIENTS, EMPLOYEES, GAZSTROY, GENERAL_LINE, HEAD_OF_SALES, HISTORY,
                              OPERATORS, PETROV, ROMASHKA, WIN_RATE, WIN_RATE_DEFAULT, Cast,
                              demo_secret, issue_demo_tokens, load_demo_base, open_leads_of,
                              sign_in_lines)

PBX = "demo-pbx"
RESULT_TIMEOUT = 20.0  # seconds a step waits for the pipeline's answer
DEADLINE_MARGIN = 30.0  # past the inbox deadline: the assignment polls, then publishes


@dataclass(frozen=True)
class Stack:
    """Where the story reaches the running services."""

    bootstrap: str
    desk_url: str
    lookup_url: str
    assignment_url: str


class StepFailed(Exception):
    """A step could not do what it meant to; the reason says why in a person's words."""


# --- what the pipeline says -------------------------------------------------------------------


class Tail:
    """Every event published to the topics the story follows, from its start on (all
    partitions, no consumer group), for the steps to wait for."""

    TOPICS: dict[str, type[BaseModel]] = {t.name: t.event for t in (  # type: ignore[misc]
        topics.CALLS_ROUTED, topics.ALERTS_SHOPPING_AROUND,
        topics.LEADS_ASSIGNED, topics.DEALS_CLOSED, topics.CALLS_REJECTED)}

    def __init__(self, bootstrap: str, keep: int = 5000) -> None:
        self.bootstrap = bootstrap
        self.heard: deque[BaseModel] = deque(maxlen=keep)
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False,
                                    group_id=None)
        await consumer.start()
        self._consumer = consumer
        partitions = [TopicPartition(name, p) for name in self.TOPICS
                      for p in await self._partitions(consumer, name)]
        consumer.assign(partitions)
        await consumer.seek_to_end(*partitions)
        for tp in partitions:  # "the end" resolved now, before the story publishes anything
            await consumer.position(tp)
        self._task = asyncio.create_task(self._run())

    @staticmethod
    async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
        known = consumer.partitions_for_topic(topic)
        if not known:
            await consumer._client.force_metadata_update()  # aiokafka has no public way
            known = consumer.partitions_for_topic(topic)
        if not known:
            raise StepFailed(f"the topic {topic} does not exist (switchboard topics create)")
        return known

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
        if self._consumer is not None:
            await self._consumer.stop()

    async def _run(self) -> None:
        assert self._consumer is not None
        while True:
            batches = await self._consumer.getmany(timeout_ms=300)
            heard = False
            for records in batches.values():
                for record in records:
                    try:
                        self.heard.append(
                            self.TOPICS[record.topic].model_validate_json(record.value))
                        heard = True
                    except ValidationError:
                        continue  # not the story's business: an event of a newer schema
            if heard:
                async with self._changed:
                    self._changed.notify_all()

    def find(self, match: Callable[[Any], bool]) -> Any | None:
        return next((e for e in self.heard if match(e)), None)

    async def first(self, match: Callable[[Any], bool], what: str, *, call_id: str | None = None,
                    timeout: float = RESULT_TIMEOUT) -> Any:
        """The first event that matches, or StepFailed after `timeout` seconds (at once when a
        service rejected the call)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with self._changed:
            while True:
                found = self.find(match)
                if found is not None:
                    return found
                if call_id is not None:
                    rejected = self.find(lambda e: isinstance(e, CallRejected)
                                         and e.call_id == call_id)
                    if rejected is not None:
                        raise StepFailed(f"the {rejected.service} rejected call {call_id}: "
                                         f"{rejected.reason}")
                if self._task is not None and self._task.done():
                    raise StepFailed(f"the story stopped hearing Kafka: {self._task.exception()}")
                left = deadline - loop.time()
                if left <= 0:
                    raise StepFailed(f"no {what} within {timeout:.0f} s")
                try:
                    await asyncio.wait_for(self._changed.wait(), left)
                except TimeoutError:
                    pass


def routed(call_id: str, stage: Stage) -> Callable[[Any], bool]:
    return lambda e: isinstance(e, CallRouted) and e.call_id == call_id and e.stage == stage


def alert(call_id: str) -> Callable[[Any], bool]:
    return lambda e: isinstance(e, ShoppingAroundDetected) and e.call_id == call_id


def assigned(*, call_id: str | None = None, lead_id: uuid.UUID | None = None
             ) -> Callable[[Any], bool]:
    return lambda e: isinstance(e, LeadAssigned) and (
        (call_id is not None and e.call_id == call_id)
        or (lead_id is not None and e.lead_id == lead_id))


def closed(lead_id: uuid.UUID) -> Callable[[Any], bool]:
    return lambda e: isinstance(e, DealClosed) and e.lead_id == lead_id


# --- the demo's telephone exchange -------------------------------------------------------------


class DemoPbx:
    """An Asterisk whose connector writes each AMI event to pbx.events (as JSON, header
    `dialect: asterisk`): a call rings, is answered, hangs up."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self.producer = producer
        self._epoch = int(time.time())
        self._count = 0

    async def _send(self, uniqueid: str, fields: dict[str, str]) -> None:
        event = {"Channel": f"PJSIP/demo-trunk-{uniqueid}", "Uniqueid": uniqueid,
                 "Linkedid": uniqueid, "Timestamp": f"{time.time():.6f}", **fields}
        await self.producer.send_and_wait(
            topics.PBX_EVENTS.name, json.dumps(event).encode(), key=uniqueid.encode(),
            headers=[("dialect", b"asterisk"), ("pbx", PBX.encode())])

    async def ring(self, caller: str, dialed: str) -> str:
        """A call coming in from the trunk; its call id in the pipeline."""
        self._count += 1
        uniqueid = f"{self._epoch}.{self._count}"
        await self._send(uniqueid, {"Event": "Newchannel", "CallerIDNum": caller,
                                    "Exten": dialed, "Context": "from-trunk",
                                    "ChannelState": "4", "ChannelStateDesc": "Ring"})
        return f"{PBX}:{uniqueid}"

    async def answer(self, call_id: str) -> None:
        await self._send(call_id.removeprefix(f"{PBX}:"), {
            "Event": "Newstate", "ChannelState": "6", "ChannelStateDesc": "Up"})

    async def hang_up(self, call_id: str) -> None:
        await self._send(call_id.removeprefix(f"{PBX}:"), {
            "Event": "Hangup", "Cause": "16", "Cause-txt": "Normal Clearing"})


# --- one round ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Deal:
    """A lead the round made, what it is worth and whose it is."""

    lead_id: uuid.UUID
    about: str  # the client, or the caller
    value: Decimal | None
    currency: str | None
    employee_id: uuid.UUID | None = None
    employee_name: str = ""


@dataclass
class Round:
    """What a round did: its calls and decided leads by step, the leads waiting in the inbox,
    the deals it gave out and their outcomes, what failed."""

    number: int
    calls: dict[str, str] = field(default_factory=dict)
    inbox: dict[str, Deal] = field(default_factory=dict)  # waiting in the head's inbox
    decided: dict[str, LeadAssigned] = field(default_factory=dict)
    deals: dict[uuid.UUID, Deal] = field(default_factory=dict)
    closed: list[DealClosed] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def money(value: Decimal | None, currency: str | None) -> str:
    if value is None:
        return "no value"
    return f"{value:,.0f}".replace(",", " ") + (f" {currency}" if currency else "")


def unknown_caller(rng: random.Random) -> str:
    """A mobile number the base does not know (+7 95x: none of the demo's)."""
    return f"+795{rng.randint(0, 99_999_999):08d}"


# What the operators hear from unknown callers (the verdict of the desk's form).
LARGE_DEAL = {"category": "commercial", "deal_value": "4500000", "currency": "RUB",
              "company_size": "medium", "product": "warehouse racking for 2 000 pallets",
              "comment": "wants a quote this week"}
LARGE_COMPANY = {"category": "commercial", "deal_value": "6000000", "currency": "RUB",
                 "company_size": "large", "corporate": True,
                 "product": "office furniture for a new headquarters",
                 "comment": "a holding of 12 companies"}
HUGE_DEAL = {"category": "commercial", "deal_value": "25000000", "currency": "RUB",
             "company_size": "large", "corporate": True,
             "product": "fit-out of a 30-floor business centre"}
OPERATIONAL = {"category": "operational", "comment": "asks when order 4471 is delivered"}
PERSONAL = {"category": "personal", "comment": "a call for Maria from her bank"}
SMALL_DEAL = {"category": "commercial", "deal_value": "180000", "currency": "RUB",
              "company_size": "small", "product": "six office chairs"}
OWNERS_DEAL = {"category": "commercial", "deal_value": "900000", "currency": "RUB",
               "product": "meeting rooms for the new office", "comment": "the same deal as "
               "last month's quote"}


class Story:
    def __init__(self, stack: Stack, cast: Cast, console: Console, tail: Tail, pbx: DemoPbx,
                 http: httpx.AsyncClient, *, pause: float, settle: float,
                 rng: random.Random) -> None:
        self.stack, self.cast, self.console = stack, cast, console
        self.tail, self.pbx, self.http = tail, pbx, http
        self.pause, self.settle, self.rng = pause, settle, rng
        self.owners_lead: Deal | None = None  # the owner's open deal, which later calls join
        self.round = Round(0)

    # --- saying what happens

    def say(self, label: str, text: str, style: str = "cyan") -> None:
        self.console.print(f"{datetime.now():%H:%M:%S} [{style}]{label:<9}[/] {escape(text)}",
                           highlight=False, soft_wrap=True)

    async def wait(self, factor: float = 1.0) -> None:
        if self.pause > 0:
            await asyncio.sleep(self.pause * factor)

    async def step(self, name: str, play: Callable[[], Awaitable[None]]) -> None:
        try:
            await play()
        except Exception as error:  # a failed step is told, and the story goes on
            reason = str(error) or type(error).__name__
            self.round.failures.append(f"{name}: {reason}")
            self.say("failed", f"{name}: {reason}; the story goes on", "bold red")

    # --- the services, as people and PBXs use them

    async def ring(self, step: str, caller: str, dialed: str) -> tuple[str, CallRouted]:
        call_id = await self.pbx.ring(caller, dialed)
        self.round.calls[step] = call_id
        decision = await self.tail.first(routed(call_id, Stage.RING), "ring-time decision",
                                         call_id=call_id)
        return call_id, decision

    async def qualify(self, step: str, call_id: str, email: str, verdict: dict[str, Any]
                      ) -> CallRouted:
        """The person's verdict through the desk, and the router's decision on it."""
        person = self.cast[email]
        url = f"{self.stack.desk_url}/v1/calls/{call_id}/qualification"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + RESULT_TIMEOUT
        while True:
            answer = await self.http.post(url, json=verdict, headers=bearer(person.token))
            if answer.status_code != 404 or loop.time() > deadline:
                break
            await asyncio.sleep(0.3)  # the desk has not heard of the call yet
        if answer.status_code == 409:
            self.say("desk", f"{call_id} was qualified at the desk already: "
                     f"{error_of(answer)}", "yellow")
        elif answer.status_code != 202:
            raise StepFailed(f"the desk refused {person.name}'s verdict on {call_id}: "
                             f"{answer.status_code} {error_of(answer)}")
        return await self.tail.first(routed(call_id, Stage.QUALIFIED), "decision on the verdict",
                                     call_id=call_id)

    async def in_inbox(self, call_id: str) -> dict[str, Any] | LeadAssigned:
        """The lead of a call in the head's inbox (GET /v1/inbox), or its decision when the
        head kept it at once."""
        head = self.cast[HEAD_OF_SALES]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + RESULT_TIMEOUT
        while loop.time() < deadline:
            decided = self.tail.find(assigned(call_id=call_id))
            if decided is not None:
                return decided
            answer = await self.http.get(f"{self.stack.assignment_url}/v1/inbox",
                                         headers=bearer(head.token))
            if answer.status_code != 200:
                raise StepFailed(f"the head's inbox answered {answer.status_code} "
                                 f"{error_of(answer)}")
            for item in answer.json()["leads"]:
                if item["call_id"] == call_id:
                    return item
            await asyncio.sleep(0.3)
        raise StepFailed(f"the lead of {call_id} reached neither the inbox nor anybody")

    def remember(self, step: str, decision: LeadAssigned, about: str,
                 verdict: dict[str, Any] | None) -> None:
        self.round.decided[step] = decision
        value = Decimal(verdict["deal_value"]) if verdict and "deal_value" in verdict else None
        self.round.deals[decision.lead_id] = Deal(
            decision.lead_id, about, value, verdict.get("currency") if verdict else None,
            decision.employee_id, decision.employee_name)

    # --- the steps

    async def owner_calls(self) -> None:
        client = self.cast.clients[ROMASHKA]
        owner = self.cast[client.owner or ""]
        call_id, decision = await self.ring("owner", client.phones[0], owner.direct_number)
        if decision.destination is not Destination.OWNER:
            self.say("call", f"{client.name} calls its owner {owner.name}: {decision.reasons[0]}")
        else:
            self.say("call", f"{client.name} calls its owner {owner.name} → rings "
                     f"{decision.employee_name}: a contact, no lead yet")
        await self.wait()
        await self.pbx.answer(call_id)
        await self.wait()
        verdict = OWNERS_DEAL
        await self.qualify("owner", call_id, owner.email, verdict)
        open_deal = self.owners_lead
        try:
            decision = await self.tail.first(assigned(call_id=call_id), "new lead",
                                             timeout=self.settle)
        except StepFailed:
            self.say("qualify", f"{owner.name} qualifies it: commercial, "
                     f"{money(Decimal(verdict['deal_value']), 'RUB')} → the call joins her open "
                     f"lead of {client.name}: one lead per deal", "green")
            if open_deal is not None:
                self.round.deals[open_deal.lead_id] = open_deal
                self.owners_lead = None
        else:
            self.remember("owner", decision, client.name, verdict)
            self.owners_lead = self.round.deals[decision.lead_id]
            self.say("qualify", f"{owner.name} qualifies it: commercial, "
                     f"{money(Decimal(verdict['deal_value']), 'RUB')} → a new lead for "
                     f"{decision.employee_name} ({decision.strategy.value}); her client's next "
                     "call about it joins it", "green")
        await self.pbx.hang_up(call_id)
        await self.wait()

    async def shopping_around(self) -> None:
        client = self.cast.clients[GAZSTROY]
        owner = self.cast[client.owner or ""]
        other = self.cast[PETROV]
        call_id, decision = await self.ring("shopping", client.phones[0], other.direct_number)
        found = await self.tail.first(alert(call_id), "shopping-around alert", call_id=call_id)
        told = self.cast.names_of(found.notify)
        self.say("shopping", f"{client.name} ({owner.name}'s client) calls {other.name} → "
                 f"shopping-around alert to {told}: {'; '.join(found.reasons)}", "bold yellow")
        self.say("call", f"the call still rings at its owner: {decision.employee_name or '?'} "
                 f"({decision.destination.value}); it hangs up before she answers")
        await self.wait(2)
        await self.pbx.hang_up(call_id)
        await self.wait()

    async def desk_call(self, step: str, operator_email: str, verdict: dict[str, Any]) -> None:
        """An unknown caller on the general line: the client department desk answers."""
        operator = self.cast[operator_email]
        caller = unknown_caller(self.rng)
        call_id, decision = await self.ring(step, caller, GENERAL_LINE)
        where = (decision.employee_name or decision.destination.value.replace("_", " "))
        self.say("call", f"an unknown caller {caller} rings the general line → {where}; "
                 f"{operator.name} answers")
        await self.wait()
        await self.pbx.answer(call_id)
        await self.wait()
        decision = await self.qualify(step, call_id, operator.email, verdict)
        what = verdict["category"] + (f", {money(Decimal(verdict['deal_value']), 'RUB')}"
                                      if "deal_value" in verdict else "")
        said = f"{operator.name} qualifies {caller}: {what} → "
        if decision.destination is Destination.NON_COMMERCIAL:
            self.say("qualify", said + "ends in the client department, no lead", "green")
        elif decision.destination is Destination.COMMERCIAL_DEPARTMENT:
            await self._to_commercial(step, said, caller, verdict, call_id)
        else:
            lead = await self.tail.first(assigned(call_id=call_id), "lead", call_id=call_id)
            self.remember(step, lead, caller, verdict)
            size = decision.size_class.value if decision.size_class else "unsized"
            self.say("qualify", said + f"a {size} deal, which the client department negotiates: "
                     f"the lead stays with {lead.employee_name} ({lead.strategy.value})", "green")
        await self.pbx.hang_up(call_id)
        await self.wait()

    async def _to_commercial(self, step: str, said: str, caller: str, verdict: dict[str, Any],
                             call_id: str) -> None:
        found = await self.in_inbox(call_id)
        if isinstance(found, LeadAssigned):
            self.remember(step, found, caller, verdict)
            self.say("keep", said + f"the head of sales {found.employee_name} keeps it at once "
                     "(worth at least her keep threshold)", "bold blue")
            return
        self.round.inbox[step] = Deal(uuid.UUID(found["lead_id"]), caller,
                                      Decimal(verdict["deal_value"]), verdict.get("currency"))
        self.say("inbox", said + f"the head of sales' inbox, {found['seconds_left']:.0f} s "
                 "before the deadline hands it out", "magenta")

    async def head_keeps(self) -> None:
        waiting = self.round.inbox.get("large company")
        if waiting is None:
            raise StepFailed("no lead waits in the inbox for the head to keep")
        head = self.cast[HEAD_OF_SALES]
        answer = await self.http.post(
            f"{self.stack.assignment_url}/v1/leads/{waiting.lead_id}/keep",
            headers=bearer(head.token))
        if answer.status_code == 409:  # someone at the desk was quicker
            self.say("keep", f"the {money(waiting.value, waiting.currency)} lead was decided "
                     f"already: {error_of(answer)}", "yellow")
        elif answer.status_code != 200:
            raise StepFailed(f"keeping {waiting.lead_id} answered {answer.status_code} "
                             f"{error_of(answer)}")
        decision = await self.tail.first(assigned(lead_id=waiting.lead_id), "leads.assigned")
        self.round.inbox.pop("large company")
        self.remember("kept", decision, waiting.about, {"deal_value": str(waiting.value),
                                                        "currency": waiting.currency})
        self.say("keep", f"{head.name}, head of sales, keeps the "
                 f"{money(waiting.value, waiting.currency)} lead of {waiting.about} from her "
                 f"inbox → {decision.employee_name} ({decision.strategy.value})", "bold blue")
        await self.wait()

    async def deadline(self) -> None:
        waiting = self.round.inbox.get("large deal")
        if waiting is None:
            raise StepFailed("no lead waits in the inbox for the deadline")
        answer = await self.http.get(f"{self.stack.assignment_url}/v1/inbox",
                                     headers=bearer(self.cast[HEAD_OF_SALES].token))
        left = next((item["seconds_left"] for item in answer.json().get("leads", [])
                     if item["lead_id"] == str(waiting.lead_id)), 0.0) \
            if answer.status_code == 200 else 0.0
        if left > 1:
            self.say("inbox", f"the {money(waiting.value, waiting.currency)} lead of "
                     f"{waiting.about} waits in the head's inbox, {left:.0f} s left: sign in as "
                     "the head to keep or pass it, or watch the deadline hand it out", "magenta")
        decision = await self.tail.first(assigned(lead_id=waiting.lead_id),
                                         "decision past the deadline",
                                         timeout=left + DEADLINE_MARGIN)
        self.round.inbox.pop("large deal")
        self.remember("deadline", decision, waiting.about, {"deal_value": str(waiting.value),
                                                            "currency": waiting.currency})
        if decision.strategy is Strategy.STRONGEST_AVAILABLE:
            chance = (decision.score / float(waiting.value)
                      if decision.score is not None and waiting.value else None)
            others = ", ".join(
                f"{self.cast.name_of(r.employee_id)} {r.score / float(waiting.value):.0%}"
                for r in decision.runners_up if waiting.value)
            self.say("deadline", f"the deadline passed: the {money(waiting.value, 'RUB')} lead "
                     f"goes to {decision.employee_name}, the strongest available"
                     + (f" (chance {chance:.0%}; then {others})" if chance else ""), "magenta")
        else:
            self.say("deadline", f"the head decided at the desk first: the lead is "
                     f"{decision.employee_name}'s ({decision.strategy.value})", "magenta")
        await self.wait()

    async def outcomes(self) -> None:
        """The deals the round gave out come back: the owner's open deal stays open until a
        later call about it joins it."""
        for lead_id, deal in list(self.round.deals.items()):
            if self.owners_lead is not None and lead_id == self.owners_lead.lead_id:
                continue
            await self.step(f"outcome of {deal.about}", lambda d=deal: self.report(d))

    async def report(self, deal: Deal) -> None:
        person = self.cast.by_id.get(deal.employee_id) if deal.employee_id else None
        email = person.email if person else ""
        won = self.rng.random() < WIN_RATE.get(email, WIN_RATE_DEFAULT)
        body: dict[str, Any] = {"outcome": "won" if won else "lost"}
        final = None
        if won and deal.value is not None:
            final = (deal.value * Decimal(self.rng.uniform(0.85, 1.05)) / 10_000).quantize(
                Decimal(1)) * 10_000
            body |= {"value": str(final), "currency": deal.currency or "RUB"}
        by_self = person is not None and person.closes_deals
        token = person.token if person and by_self else self.cast.crm_token
        answer = await self.http.post(f"{self.stack.lookup_url}/v1/leads/{deal.lead_id}/outcome",
                                      json=body, headers=bearer(token))
        if answer.status_code not in (200, 202):
            raise StepFailed(f"the outcome of {deal.lead_id} answered {answer.status_code} "
                             f"{error_of(answer)}")
        event = await self.tail.first(closed(deal.lead_id), "deals.closed")
        self.round.closed.append(event)
        whose = deal.employee_name or self.cast.name_of(deal.employee_id)
        self.say("outcome", f"{whose} {event.outcome} the lead of {deal.about}"
                 + (f": {money(final, deal.currency)}" if final is not None else "")
                 + (" (the CRM reports it)" if not by_self else "")
                 + " → deals.closed; the assignment counts it in the record it ranks by",
                 "bold green" if won else "red")
        await self.wait()

    # --- the round

    async def play_round(self, number: int) -> Round:
        self.round = Round(number)
        self.say("round", f"round {number}: the phones ring", "bold")
        first, second = OPERATORS
        await self.step("an owned client calls its owner", self.owner_calls)
        await self.step("a large deal", lambda: self.desk_call("large deal", second, LARGE_DEAL))
        await self.step("a large company", lambda: self.desk_call("large company", first,
                                                                  LARGE_COMPANY))
        await self.step("the head keeps a lead", self.head_keeps)
        await self.step("a very large deal", lambda: self.desk_call("huge deal", second,
                                                                    HUGE_DEAL))
        await self.step("shopping around", self.shopping_around)
        await self.step("an operational call", lambda: self.desk_call("operational", first,
                                                                      OPERATIONAL))
        await self.step("a personal call", lambda: self.desk_call("personal", second, PERSONAL))
        await self.step("a small deal", lambda: self.desk_call("small deal", first, SMALL_DEAL))
        await self.step("the deadline", self.deadline)
        await self.outcomes()
        return self.round


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def error_of(answer: httpx.Response) -> str:
    try:
        return str(answer.json().get("error") or answer.json().get("detail") or answer.text)
    except ValueError:
        return answer.text[:200]


@asynccontextmanager
async def story(stack: Stack, cast: Cast, console: Console, *, pause: float,
                settle: float = 3.0, seed: int | None = None) -> AsyncIterator[Story]:
    """The story with its Kafka tail, the demo PBX and an HTTP client, ready to play rounds."""
    tail = Tail(stack.bootstrap)
    producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap, acks="all",
                                enable_idempotence=True)
    await tail.start()
    try:
        await producer.start()
        try:
            async with httpx.AsyncClient(timeout=15) as http:
                yield Story(stack, cast, console, tail, DemoPbx(producer), http, pause=pause,
                            settle=settle, rng=random.Random(seed))
        finally:
            await producer.stop()
    finally:
        await tail.stop()


async def play_story(stack: Stack, cast: Cast, console: Console, *, pause: float,
                     rounds: int | None = None) -> None:
    """Rounds until cancelled (or `rounds` of them)."""
    async with story(stack, cast, console, pause=pause) as playing:
        number = 0
        while rounds is None or number < rounds:
            number += 1
            try:
                await playing.play_round(number)
            except Exception as error:  # noqa: BLE001 - the next round starts afresh
                playing.say("failed", f"round {number}: {error}; the next one starts", "bold red")
                await asyncio.sleep(max(pause, 1.0))


async def close_leftovers(stack: Stack, cast: Cast, leads: list[uuid.UUID], console: Console
                          ) -> None:
    """The outcomes of the leads an earlier run left open, so that everyone starts the day
    with room (reported as the CRM would)."""
    if not leads:
        return
    async with httpx.AsyncClient(timeout=15) as http:
        reported = 0
        for lead_id in leads:
            answer = await http.post(f"{stack.lookup_url}/v1/leads/{lead_id}/outcome",
                                     json={"outcome": "lost"}, headers=bearer(cast.crm_token))
            reported += answer.status_code in (200, 202)
    console.print(f"the CRM closed {reported} of the {len(leads)} leads an earlier run left open",
                  highlight=False)


async def run_demo(urls: dict[str, str], bootstrap: str, database_url: str, root: Path,
                   pause: float, console: Console) -> None:
    """Load the demo base, print the desk's address and the sign-ins, then play the story
    until cancelled."""
    now = datetime.now(UTC)
    cast = await load_demo_base(database_url, now, demo_secret(root))
    cast = await issue_demo_tokens(database_url, cast, now)
    desk_url = urls["SWITCHBOARD_DESK_URL"]
    console.print(f"demo client base loaded: {len(CLIENTS)} clients, {len(EMPLOYEES)} people of "
                  "both departments, the commercial department's record of "
                  f"{sum(w + lost for *_, w, lost in HISTORY)} closed deals", soft_wrap=True)
    for line in sign_in_lines(cast, desk_url):
        console.print(line, highlight=False, soft_wrap=True)
    stack = Stack(bootstrap=bootstrap, desk_url=desk_url,
                  lookup_url=urls["SWITCHBOARD_LOOKUP_URL"],
                  assignment_url=urls["SWITCHBOARD_ASSIGNMENT_URL"])
    await close_leftovers(stack, cast, await open_leads_of(database_url, cast), console)
    await play_story(stack, cast, console, pause=pause)
