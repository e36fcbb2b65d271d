"""The load: calls to the general line as an Asterisk connector posts them to the intake
(`POST /v1/pbx/asterisk`, one AMI event per request as JSON, signed with the connector's
secret), started on a fixed schedule whatever the answers do (open loop). Each call is a
`Newchannel` of the caller's channel, its send time stamped just before the request, and,
--ring-seconds later, the caller's `Hangup` (unanswered), which takes the card off the screens.

The callers ring at the desk: one in ten an unknown number, the others clients of the seeded
base (bench.ring.client_base) without an owner, of a segment whose calls ring the client
department."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp

from bench.desk.expected import RingsAt
from bench.pipeline.client_base import GENERAL_LINE
from bench.ring.client_base import UNKNOWN_PREFIX, RingBase
from bench.ring.load import UNKNOWN_SHARE
from services.desk.policy import dom_id
from services.intake.signing import sign

CONNECTOR = "desk-bench"  # the PBX's connector name (and so the pipeline's `<pbx>:`)
DIALECT = "asterisk"
PBX_PATH = f"/v1/pbx/{DIALECT}"
CLIENT_DEPARTMENT = "client_department"
CONNECTIONS = 64  # the connector's kept-alive connections to the intake
# aiohttp, as bench.ring's load: httpx costs the load generator about 3 ms of CPU per request,
# a tenth of a core here taken from the machine it measures.
KEEP_ALIVE_SECONDS = 4.0  # below uvicorn's 5: a kept connection is never one it just closed


@dataclass(frozen=True)
class Call:
    """One call of the load."""

    seq: int
    pbx_id: str  # the PBX's id of the call (the caller's channel's Uniqueid and Linkedid)
    caller: str
    kind: str  # known (a client without an owner), unknown
    measured: bool  # False: a warm-up call
    rings: RingsAt = RingsAt(desk=True)

    @property
    def call_id(self) -> str:
        """The pipeline's id of the call."""
        return f"{CONNECTOR}:{self.pbx_id}"

    @property
    def dom_id(self) -> bytes:
        """The HTML id of the call's card on the desk's pages."""
        return dom_id(self.call_id).encode()


@dataclass(frozen=True)
class Sent:
    """What the intake answered, on the monotonic clock (the browsers' too)."""

    due: float  # when the call was due (the schedule)
    sent: float  # just before its Newchannel was sent: the PBX event's time
    done: float  # when the intake answered, or the request failed
    status: int | None  # None: no answer (timeout, connection error)
    error: str | None = None
    hangup_status: int | None = None  # the Hangup's answer; None when none was sent or it failed


def desk_callers(base: RingBase) -> list[int]:
    """The clients of the base whose calls ring at the client department desk: no owner, and
    a segment whose unowned clients ring the client department."""
    return [i for i in range(base.clients)
            if not base.owned(i) and base.desks.ring[base.segment(i)] == CLIENT_DEPARTMENT]


def make_calls(tag: str, warmup: int, measured: int, base: RingBase, rng: random.Random
               ) -> list[Call]:
    """`warmup` calls then `measured` ones, each with a fresh PBX id."""
    known = desk_callers(base)
    if not known:
        raise SystemExit("no client of the base rings at the desk: use more --clients")
    calls = []
    for seq in range(warmup + measured):
        if rng.random() < UNKNOWN_SHARE:
            caller, kind = f"{UNKNOWN_PREFIX}{rng.randrange(10 ** 7):07d}", "unknown"
        else:
            caller, kind = base.phone(rng.choice(known)), "known"
        calls.append(Call(seq, f"{tag}.{seq:06d}", caller, kind, measured=seq >= warmup))
    return calls


def ami_event(event: str, call: Call, at: float) -> bytes:
    """An AMI event of the caller's channel as JSON (`Timestamp`: timestampevents = yes)."""
    fields = {"Event": event, "Channel": f"PJSIP/trunk-{call.seq:08x}",
              "Uniqueid": call.pbx_id, "Linkedid": call.pbx_id, "Timestamp": f"{at:.6f}"}
    if event == "Newchannel":
        fields |= {"ChannelState": "4", "ChannelStateDesc": "Ring", "CallerIDNum": call.caller,
                   "Exten": GENERAL_LINE, "Context": "from-trunk"}
    else:
        fields |= {"Cause": "19", "Cause-txt": "No answer"}
    return json.dumps(fields).encode()


def signed(secret: str, body: bytes, at: float) -> dict[str, str]:
    """The connector's signature headers (the intake's own scheme)."""
    timestamp = str(int(at))
    return {"Content-Type": "application/json", "X-Switchboard-Connector": CONNECTOR,
            "X-Switchboard-Timestamp": timestamp,
            "X-Switchboard-Signature": sign(secret, timestamp, body)}


async def offer(intake_url: str, calls: list[Call], rate: float, secret: str,
                ring_seconds: float, timeout: float, start: float,
                all_sent: Callable[[], None] | None = None) -> list[Sent]:
    """Call k's Newchannel at `start` + k / rate (monotonic), without waiting for the earlier
    ones, its Hangup `ring_seconds` after it was due; `all_sent` is called once the last
    Newchannel is answered. Returns what was sent, in the order of `calls`."""
    url = intake_url + PBX_PATH
    connector = aiohttp.TCPConnector(limit=CONNECTIONS, keepalive_timeout=KEEP_ALIVE_SECONDS)
    async with aiohttp.ClientSession(connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=timeout)) as http:

        async def post(event: str, call: Call) -> tuple[float, int | None, str | None]:
            body = ami_event(event, call, time.time())
            headers = signed(secret, body, time.time())
            sent = time.monotonic()
            try:
                async with http.post(url, data=body, headers=headers) as answer:
                    await answer.read()
                    return sent, answer.status, None if answer.status == 202 else (
                        f"HTTP {answer.status}")
            except TimeoutError:
                return sent, None, "timeout"
            except aiohttp.ClientError as e:
                return sent, None, type(e).__name__

        async def one(call: Call, due: float) -> Sent:
            sent, status, error = await post("Newchannel", call)
            done = time.monotonic()
            return Sent(due, sent, done, status, error)

        async def hang_up(call: Call, due: float) -> int | None:
            await asyncio.sleep(max(0.0, due + ring_seconds - time.monotonic()))
            return (await post("Hangup", call))[1]

        starts, hangups = [], []
        for k, call in enumerate(calls):
            due = start + k / rate
            ahead = due - time.monotonic()
            if ahead > 0:
                await asyncio.sleep(ahead)
            starts.append(asyncio.create_task(one(call, due)))
            if ring_seconds > 0:
                hangups.append(asyncio.create_task(hang_up(call, due)))
        sent = list(await asyncio.gather(*starts))
        if all_sent is not None:
            all_sent()
        hung_up = list(await asyncio.gather(*hangups)) if hangups else [None] * len(sent)
    return [Sent(s.due, s.sent, s.done, s.status, s.error, h)
            for s, h in zip(sent, hung_up, strict=True)]
