"""The ring-time answers: `GET /v1/route/asterisk` with HTTP basic auth, as an Asterisk
dialplan asks whom to ring, open loop at each rate, to the intake of the same stack the
pipeline parts run on. bench/ring's pieces: its client base (seeded into the same database,
beside the pipeline's), its requests and their schedule (bench.ring.load), the figures of a
part (bench.ring.report.summarise: answer times from when each request was due; decided,
fallback, wrong, errors), the intake's own count of its answers (bench.ring.metrics) and, with
--stages, where a decided answer's time goes (bench.ring.stages)."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from bench.pipeline.cpu import CpuMeter, per_1000_calls
from bench.ring.load import Ask, offer
from bench.ring.metrics import answered_between, route_answers
from bench.ring.options import Options as RingOptions
from bench.ring.report import FALLBACK_EXTENSION, summarise
from bench.ring.stages import offer_watched

ROUTE_PATH = "/v1/route/asterisk"
WARMUP_RATE, WARMUP_SECONDS = 100, 5.0  # unmeasured, before the first rate
_RING = RingOptions()  # the ring-time benchmark's defaults: the same deadline, the same load
DEADLINE_MS, GRACE_MS = _RING.deadline_ms, _RING.grace_ms
CONNECTIONS, TIMEOUT_SECONDS = _RING.connections, _RING.timeout


def intake_env() -> dict[str, str]:
    """The intake's route settings for this part: bench/ring's deadline, and a fallback
    extension no decision dials, so that a fallback answer is told from a decided one."""
    return {"SWITCHBOARD_INTAKE_ROUTE_DEADLINE_MS": str(DEADLINE_MS),
            "SWITCHBOARD_INTAKE_ROUTE_FALLBACK_EXTENSION": FALLBACK_EXTENSION}


def ring_part(intake_url: str, asks: list[Ask], rate: float, auth: tuple[str, str],
              meter: CpuMeter | None, stages_from: tuple[str, str] | None = None
              ) -> dict[str, Any]:
    """`asks` offered at `rate` per second; bench/ring's figures of the part, with the CPU
    per 1,000 requests of every measured process. `stages_from` (the broker, the tag of the
    asks' call ids) adds the stages of the decided answers."""
    before = route_answers(intake_url)
    load_average = [round(x, 2) for x in os.getloadavg()]
    if meter:
        meter.start()
    offering = offer(intake_url + ROUTE_PATH, asks, rate, auth, CONNECTIONS, TIMEOUT_SECONDS)
    stages = None
    if stages_from:
        answers, cpu, stages = asyncio.run(offer_watched(
            offering, *stages_from, asks, lambda: meter.stop() if meter else None))
    else:
        answers = asyncio.run(offering)
        cpu = meter.stop() if meter else None
    summary = summarise(asks, answers, rate, DEADLINE_MS, GRACE_MS)
    if stages is not None:
        summary["stages_ms"] = stages
    summary["load_average"] = load_average
    summary["intake_counted"] = answered_between(before, route_answers(intake_url))
    if cpu is not None:
        summary["cpu"] = cpu
        summary["cpu_per_1000_calls"] = per_1000_calls(cpu, len(asks))
    return summary
