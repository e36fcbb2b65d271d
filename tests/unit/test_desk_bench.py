"""The desk benchmark's pure parts: who is entitled to which card, the calls and their PBX
events, what a browser reads off its stream, the figures and the verdict, the options. A
mistake there would only show at the end of a run of minutes."""

from __future__ import annotations

import inspect
import json
import random
import time
import uuid
from datetime import UTC, datetime

import pytest

from bench.desk.browsers import StreamReader
from bench.desk.expected import RingsAt, Viewer, entitled, entitled_browsers, expected_events
from bench.desk.load import (CONNECTOR, Call, Sent, ami_event, desk_callers, make_calls,
                             signed)
from bench.desk.options import Options
from bench.desk.people import Operator
from bench.desk.report import latency_figures, report, summarise, verdict
from bench.ring.client_base import Desks, RingBase
from services.desk.policy import dom_id
from services.intake.asterisk import from_asterisk
from services.intake.signing import verify_switchboard
from shared.access.principals import AccessRole
from shared.events import CallLifecycle, CallReceived, LifecyclePhase
from switchboard.bench import options_as_parameters

DESKS = Desks({"client_department": "700", "commercial_department": "800"},
              {"individual": "client_department", "small_business": "client_department",
               "corporate": "client_department", "large_corporate": "commercial_department"})
OPERATOR = frozenset({AccessRole.OPERATOR})


def viewer(roles: frozenset[AccessRole] = OPERATOR) -> Viewer:
    return Viewer(uuid.uuid4(), roles)


def call(seq: int, kind: str = "known", measured: bool = True) -> Call:
    return Call(seq, f"t.{seq:06d}", f"+7919100{seq:04d}", kind, measured)


def sent(at: float, status: int | None = 202, error: str | None = None) -> Sent:
    return Sent(at, at + 0.001, at + 0.01, status, error, 202)


# ------------------------------------------------------------------ who gets which card


def test_an_operator_is_entitled_to_a_desk_call_and_to_their_own_line_only():
    operator, other = viewer(), viewer()
    negotiator = viewer(frozenset({AccessRole.NEGOTIATOR}))
    assert entitled(operator, RingsAt(desk=True))
    assert entitled(operator, RingsAt(desk=False, employee_id=operator.employee_id))
    assert not entitled(other, RingsAt(desk=False, employee_id=operator.employee_id))
    assert not entitled(operator, RingsAt(desk=False))
    assert not entitled(negotiator, RingsAt(desk=True))  # no operator's screen
    assert entitled(viewer(frozenset({AccessRole.HEAD})), RingsAt(desk=True))


def test_expected_events_are_calls_times_the_browsers_entitled():
    viewers = [viewer(), viewer(), viewer(frozenset({AccessRole.NEGOTIATOR}))]
    assert entitled_browsers(viewers, RingsAt(desk=True)) == [0, 1]
    own = RingsAt(desk=False, employee_id=viewers[1].employee_id)
    assert expected_events(viewers, [RingsAt(desk=True)] * 3 + [own]) == 7


def test_the_benchmarks_operators_open_the_operators_screen():
    operator = Operator(uuid.uuid4(), "o@bench.example", "ru", "sbs_x")
    assert operator.viewer.opens_operator_screen
    assert entitled(operator.viewer, call(0).rings)


# ------------------------------------------------------------------ the calls and their events


def test_the_callers_ring_at_the_desk_unowned_clients_and_unknown_numbers():
    base = RingBase("12", 1000, DESKS)
    at_desk = set(desk_callers(base))
    assert at_desk and all(not base.owned(i) and base.segment(i) != "large_corporate"
                           for i in at_desk)
    calls = make_calls("run", 100, 900, base, random.Random(1))
    assert [c.measured for c in calls] == [False] * 100 + [True] * 900
    assert len({c.call_id for c in calls}) == 1000
    known = {base.phone(i) for i in at_desk}
    assert all(c.caller in known for c in calls if c.kind == "known")
    unknown = sum(c.kind == "unknown" for c in calls)
    assert 60 < unknown < 140  # one in ten
    assert all(c.rings == RingsAt(desk=True) for c in calls)


def test_a_calls_newchannel_and_hangup_are_what_the_intake_reads_as_its_start_and_end():
    c = call(7)
    now = datetime.now(UTC)
    started = from_asterisk(ami_event("Newchannel", c, 1_700_000_000.25), region="RU", now=now,
                            pbx=CONNECTOR)
    assert isinstance(started, CallReceived)
    assert started.call_id == c.call_id == f"{CONNECTOR}:t.000007"
    assert started.caller == c.caller and started.dialed == "+74951000000"
    ended = from_asterisk(ami_event("Hangup", c, 1_700_000_010.0), region="RU", now=now,
                          pbx=CONNECTOR)
    assert isinstance(ended, CallLifecycle) and ended.phase is LifecyclePhase.HUNG_UP
    assert ended.call_id == c.call_id


def test_a_pbx_event_is_signed_as_the_intake_checks_and_its_card_id_is_the_desks():
    body = ami_event("Newchannel", call(1), time.time())
    headers = signed("s3cret", body, time.time())
    assert headers["X-Switchboard-Connector"] == CONNECTOR
    assert verify_switchboard("s3cret", headers["X-Switchboard-Timestamp"],
                              headers["X-Switchboard-Signature"], body, time.time()) is None
    assert call(1).dom_id == dom_id(call(1).call_id).encode()


# ------------------------------------------------------------------ what a browser reads


def card(c: Call, *, replace: bool = False) -> str:
    oob = 'hx-swap-oob="true" ' if replace else ""
    return (f'<article {oob}id="{c.dom_id.decode()}" class="card state-ringing" '
            f'aria-labelledby="{c.dom_id.decode()}-title" data-call-id="{c.call_id}">\n'
            "  <h2>+7 919</h2>\n</article>")


def message(html: str, event: str = "update") -> bytes:
    return (f"event: {event}\r\n" + "".join(f"data: {line}\r\n" for line in html.split("\n"))
            + "\r\n").encode()


def test_a_stream_notes_each_cards_first_arrival_from_complete_messages_only():
    reader = StreamReader()
    first, second = call(1), call(2)
    snapshot = message('<section id="cards" hx-swap-oob="innerHTML"></section>')
    insert = message(f'<div hx-swap-oob="afterbegin:#cards">{card(first)}</div>')
    reader.feed(snapshot + insert[:40], 1.0)  # the insert cut in the middle of its card
    assert reader.snapshots == 1 and reader.messages == 1 and not reader.arrivals
    reader.feed(insert[40:] + b": ping - 2026-01-01\r\n\r\n", 2.0)
    assert reader.arrivals == {first.dom_id: 2.0}
    reader.feed(message(card(first, replace=True)), 3.0)  # the routed update: still first at 2
    reader.feed(message(f'<div id="{first.dom_id.decode()}" hx-swap-oob="delete"></div>'), 4.0)
    assert reader.arrivals == {first.dom_id: 2.0} and reader.messages == 4
    resync = message(f'<section id="cards" hx-swap-oob="innerHTML">{card(second)}</section>')
    reader.feed(resync, 5.0)
    assert reader.snapshots == 2 and reader.arrivals[second.dom_id] == 5.0
    third = message(f'<div hx-swap-oob="afterbegin:#cards">{card(call(3))}</div>')
    for i in range(len(third)):  # a byte at a time: complete at its last byte only
        reader.feed(third[i:i + 1], 6.0 + i)
    assert reader.arrivals[call(3).dom_id] == 6.0 + len(third) - 1
    reader.feed(b"event: signed-out\n" + b"data: <p>bye</p>\n\n", 9e9)  # LF-ended too
    assert reader.signed_out and reader.bytes_read > len(third)


# ------------------------------------------------------------------ the figures


def test_percentiles_are_nearest_rank_and_a_missing_event_counts_as_later_than_any():
    values = [i / 1000 for i in range(1, 101)]  # 1..100 ms
    figures = latency_figures(values)
    assert (figures["p50_ms"], figures["p95_ms"], figures["p99_ms"], figures["max_ms"]) == (
        50.0, 95.0, 99.0, 100.0)
    one_missing = latency_figures(values[:99], missing=1)
    assert one_missing["p99_ms"] == 99.0 and one_missing["max_ms"] is None
    assert one_missing["max_received_ms"] == 99.0
    assert latency_figures(values[:98], missing=2)["p99_ms"] is None
    assert latency_figures([]) == {"count": 0}


def test_each_accepted_measured_call_is_expected_at_every_entitled_browser():
    viewers = [viewer(), viewer(), viewer(frozenset({AccessRole.NEGOTIATOR}))]
    calls = [call(0, measured=False), call(1), call(2, "unknown"), call(3)]
    what = [sent(10.0), sent(11.0), sent(12.0), sent(13.0, None, "timeout")]
    arrivals = [
        {calls[0].dom_id: 10.1, calls[1].dom_id: 11.201, calls[2].dom_id: 12.051},
        {calls[1].dom_id: 11.401},  # the unknown caller's card never came here
        {calls[1].dom_id: 11.3},  # not entitled: does not count
    ]
    enriched = {calls[1].pbx_id: 1000.101, calls[2].pbx_id: 1001.021}
    received = {calls[1].pbx_id: 1000.031}
    figures = summarise(calls, what, viewers, arrivals, enriched, wall_minus_monotonic=989.0,
                        received_at=received)
    assert (figures["calls"], figures["accepted"], figures["error_count"]) == (3, 2, 1)
    assert figures["errors"] == {"timeout": 1}
    assert (figures["events_expected"], figures["events_received"],
            figures["events_missing"]) == (4, 3, 1)
    assert figures["latency_ms"]["p50_ms"] == 200.0  # 50, 200, 400 ms and one missing
    assert figures["latency_ms"]["p99_ms"] is None
    assert figures["by_kind"]["known"]["max_ms"] == 400.0
    assert figures["by_kind"]["unknown"]["missing"] == 1
    stages = figures["stages_ms"]
    assert stages["PBX event to calls.enriched (per call)"]["max_ms"] == 100.0
    assert stages["  of which PBX event to calls.received (the intake)"]["max_ms"] == 30.0
    assert stages["  and calls.received to calls.enriched (the lookup)"]["max_ms"] == 70.0
    assert stages["calls.enriched to the browser (per event)"]["p50_ms"] == 100.0
    assert stages["first to last browser of one card (per call)"]["max_ms"] == 200.0
    assert figures["events_late"] == 1


def test_a_missing_card_of_a_call_that_ended_before_its_enrichment_is_counted_apart():
    viewers = [viewer()]
    calls = [call(1), call(2), call(3)]
    what = [sent(10.0), sent(11.0), sent(12.0)]
    # enriched 2 s after the call (before its hang-up at 10 s), 12 s after, never
    enriched = {calls[0].pbx_id: 12.0, calls[1].pbx_id: 23.0}
    figures = summarise(calls, what, viewers, [{}], enriched, ring_seconds=10.0)
    assert figures["events_missing"] == 3 and figures["missing_ended_before_enriched"] == 2
    assert summarise(calls, what, viewers, [{}], enriched)["missing_ended_before_enriched"] == 0


def result(p99_ms: float | None, browsers: int = 200, rate: float = 50.0,
           missing: int = 0) -> dict:
    latency = {"count": 1000, "missing": missing, "p50_ms": 100.0, "p95_ms": 200.0,
               "p99_ms": p99_ms, "max_ms": p99_ms, "max_received_ms": 900.0,
               "mean_received_ms": 120.0}
    return {
        "config": {"browsers": browsers, "rate": rate, "duration": 30.0, "warmup": 10.0,
                   "ring_seconds": 10.0, "unknown_share": 0.1},
        "machine": {"cpus": 2, "cpu_model": "test", "load_average_at_start": [1, 1, 1]},
        "browsers": {"connected": browsers, "desk_streams": browsers, "reopened": 0,
                     "resyncs": 0, "desk_resyncs": 0, "messages": 10, "megabytes": 1.0,
                     "errors": {}},
        "figures": {"calls": 5, "accepted": 5, "errors": {}, "error_count": 0,
                    "hangups_accepted": 5, "send_lag_ms": {"p99_ms": 1.0, "max_ms": 2.0},
                    "events_expected": 1000, "events_received": 1000 - missing,
                    "events_missing": missing, "events_late": missing,
                    "latency_ms": latency, "by_kind": {"known": latency},
                    "stages_ms": {"PBX event to calls.enriched (per call)": latency}},
        "cpu": {"wall_s": 30.0, "machine_util": 0.9, "other_share": 0.1, "messages": 10,
                "per_group": {"desk": {"cores": 0.5, "ms_per_call": 10.0,
                                       "us_per_message": 50.0}}},
    }


def test_the_verdict_holds_p99_to_one_second_and_says_when_the_load_was_not_the_targets():
    met = result(640.0)
    met["target"] = verdict(met)
    assert met["target"]["met"] and met["target"]["at_target_load"]
    assert "target MET" in report(met) and "NOT at the target" not in report(met)
    missed = result(None, missing=50)
    missed["target"] = verdict(missed)
    assert not missed["target"]["met"]
    text = report(missed)
    assert "target MISSED" in text and "p99 missing ms, 50 missing" in text
    light = result(300.0, browsers=20, rate=5.0)
    light["target"] = verdict(light)
    assert light["target"]["met"] and not light["target"]["at_target_load"]
    assert "NOT at the target's load: 20 browsers, 5 calls/s" in report(light)
    json.dumps(met)  # what --json prints


# ------------------------------------------------------------------ the options


def test_the_defaults_are_the_issues_load_and_the_command_is_built_from_them():
    options = Options()
    assert (options.browsers, options.rate, options.duration) == (200, 50.0, 30.0)
    assert options.calls() == (500, 1500)
    names = list(options_as_parameters(Options).parameters)
    assert names[:3] == ["browsers", "rate", "duration"] and "ring_seconds" in names
    from switchboard.desk_bench import desk_bench_command
    assert list(inspect.signature(desk_bench_command).parameters) == names


@pytest.mark.parametrize("bad, says", [
    ({"browsers": 0}, "--browsers 0"), ({"rate": 0}, "--rate 0"),
    ({"duration": -1}, "--duration -1"), ({"ring_seconds": -1}, "--ring-seconds -1"),
])
def test_options_that_cannot_measure_anything_stop_the_run_before_it_starts(bad, says):
    with pytest.raises(SystemExit, match=says):
        Options(**bad).check()
