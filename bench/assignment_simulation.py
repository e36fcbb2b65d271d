"""How much revenue the assignment policy wins, against round robin and an oracle.

    python bench/assignment_simulation.py [--leads 4000] [--negotiators 12] [--per-hour 4]
                                          [--runs 5] [--seed 7]

A commercial department (a head of sales and negotiators) has hidden true chances to close
each kind of lead (segment x size class); the head is the strongest. A few thousand leads
arrive over simulated weeks, each with a value and a kind; whoever gets one works it for a
while (capacity limits how many at once) and then wins or loses it, drawn from their true
chance. Every strategy sees the same leads, the same durations and the same luck (one uniform
draw per lead: won when it is below the assignee's true chance), so the differences are the
strategies' own:

- **policy**: this service's rules, as pure functions (services.assignment): the head keeps
  the top 10% by expected value while under capacity (or everything while the inflow is low),
  the rest goes at the deadline to the negotiator with the highest estimated expected value,
  estimated from the outcomes seen so far and shrunk towards the department's average;
- **raw win rate**: the same, but ranking by each negotiator's raw won/closed ratio (no
  prior): what the Beta prior protects against;
- **round robin**: the next available member of the department, head included;
- **oracle**: knows the true chances: the available member with the highest true expected
  value.

No database, no clock: a seeded random generator drives everything.
"""

from __future__ import annotations

import argparse
import heapq
import random
import statistics
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from rich.console import Console
from rich.table import Table

from services.assignment.keep import KeepRules, RecentFlow
from services.assignment.policy import (
    AssignmentRules,
    Choice,
    LeadPlan,
    Track,
    distribute,
    lead_expected_value,
    on_arrival,
)
from services.assignment.strength import LeadKind, Negotiator
from shared.chances import DepartmentRecord, Record

KINDS = [LeadKind(segment, size) for segment in ("corporate", "large_corporate")
         for size in ("medium", "large")]
MEDIAN_VALUE = {"medium": 2_000_000, "large": 10_000_000}  # RUB
CAPACITY = 8
LEADS_PER_HOUR = 4.0  # the default inflow: about 55% of the department's capacity
MEAN_WORK_HOURS = 14.0  # how long a lead stays open before it is won or lost
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Lead:
    at: float  # hours since START
    kind: LeadKind
    value: float
    work_hours: float
    luck: float  # won when below the assignee's true chance


@dataclass
class Member:
    employee_id: uuid.UUID
    name: str
    head: bool
    true_chance: dict[LeadKind, float]
    load: int = 0
    records: dict[LeadKind, Record] = field(default_factory=dict)

    def as_negotiator(self, kind: LeadKind) -> Negotiator:
        return Negotiator(self.employee_id, self.name, self.load, CAPACITY,
                          record=self.records.get(kind, Record()), email=self.name)


def make_team(rng: random.Random, negotiators: int) -> list[Member]:
    def chances(base: float) -> dict[LeadKind, float]:
        return {k: min(0.95, max(0.03, base + rng.gauss(0, 0.08))) for k in KINDS}

    team = [Member(uuid.UUID(int=rng.getrandbits(128)), "head", True, chances(0.55))]
    for i in range(negotiators):
        team.append(Member(uuid.UUID(int=rng.getrandbits(128)), f"negotiator {i + 1}", False,
                           chances(rng.betavariate(3, 6))))
    return team


def make_leads(rng: random.Random, count: int, per_hour: float) -> list[Lead]:
    leads, at = [], 0.0
    for _ in range(count):
        at += rng.expovariate(per_hour)
        kind = rng.choice(KINDS)
        value = MEDIAN_VALUE[kind.size_class] * rng.lognormvariate(0, 0.8)
        leads.append(Lead(at, kind, round(value, -3), rng.expovariate(1 / MEAN_WORK_HOURS),
                          rng.random()))
    return leads


Strategy = Callable[[Lead, list[Member], "World"], Member]


@dataclass
class World:
    """What a strategy has learnt so far: the recent flow, for the keep rules."""

    rules: AssignmentRules
    arrivals: deque = field(default_factory=deque)  # hours of the last hour's arrivals
    recent_values: deque = field(default_factory=lambda: deque(maxlen=500))
    round_robin: int = 0


def department(team: list[Member], kind: LeadKind) -> DepartmentRecord:
    on_kind, overall = Record(), Record()
    for m in team:
        for k, r in m.records.items():
            overall += r
            if k == kind:
                on_kind += r
    return DepartmentRecord(on_kind, overall)


def policy(lead: Lead, team: list[Member], world: World) -> Member:
    """The service's rules: keep (head) or distribute (the strongest available)."""
    rules = world.rules
    dept = department(team, lead.kind)
    value = Decimal(str(lead.value))
    while world.arrivals and world.arrivals[0] <= lead.at - 1.0:
        world.arrivals.popleft()
    market = RecentFlow(len(world.arrivals), list(world.recent_values))
    world.arrivals.append(lead.at)
    expected = lead_expected_value(value, dept, rules.prior_strength)
    world.recent_values.append(expected)
    plan = LeadPlan(uuid.uuid4(), Track.COMMERCIAL_DEPARTMENT, None, None, lead.kind, value,
                    "RUB", START + timedelta(hours=lead.at))
    heads = [m.as_negotiator(lead.kind) for m in team if m.head]
    others = [m.as_negotiator(lead.kind) for m in team if not m.head]
    outcome = on_arrival(plan, heads, others, dept, market, rules)
    if not isinstance(outcome, Choice):  # nobody acts in the inbox: the deadline passes
        outcome = distribute(others, dept, value, rules)
    if outcome is None:  # every negotiator is full: the head, if they have room
        return next(m for m in team if m.head)
    return next(m for m in team if m.employee_id == outcome.employee.employee_id)


def raw_win_rate(lead: Lead, team: list[Member], world: World) -> Member:
    """Greedy on won/closed, no prior (a newcomer counts as 50%)."""
    def rate(m: Member) -> float:
        r = m.records.get(lead.kind, Record())
        return r.won / r.closed if r.closed else 0.5
    available = [m for m in team if m.load < CAPACITY]
    return max(available, key=lambda m: (rate(m), -m.load))


def round_robin(lead: Lead, team: list[Member], world: World) -> Member:
    for _ in range(len(team)):
        member = team[world.round_robin % len(team)]
        world.round_robin += 1
        if member.load < CAPACITY:
            return member
    raise AssertionError("called with nobody available")


def oracle(lead: Lead, team: list[Member], world: World) -> Member:
    available = [m for m in team if m.load < CAPACITY]
    return max(available, key=lambda m: (m.true_chance[lead.kind], -m.load))


@dataclass
class Result:
    revenue: float = 0.0
    won: int = 0
    to_head: int = 0


def simulate(strategy: Strategy, team: list[Member], leads: list[Lead],
             rules: AssignmentRules) -> Result:
    for m in team:
        m.load, m.records = 0, {}
    world, result = World(rules), Result()
    closing: list[tuple[float, int, Member, Lead, bool]] = []  # (when, n, who, lead, won)

    def close_until(hours: float) -> None:
        while closing and closing[0][0] <= hours:
            _, _, member, lead, won = heapq.heappop(closing)
            member.load -= 1
            record = member.records.get(lead.kind, Record())
            member.records[lead.kind] = record + (Record(1, 0) if won else Record(0, 1))

    for n, lead in enumerate(leads):
        close_until(lead.at)
        start = lead.at
        while all(m.load >= CAPACITY for m in team):  # everybody full: wait for a close
            start = closing[0][0]
            close_until(start)
        member = strategy(lead, team, world)
        assert member.load < CAPACITY or member.head
        member.load += 1
        won = lead.luck < member.true_chance[lead.kind]
        heapq.heappush(closing, (start + lead.work_hours, n, member, lead, won))
        result.won += won
        result.revenue += lead.value if won else 0.0
        result.to_head += member.head
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=4000)
    parser.add_argument("--negotiators", type=int, default=12)
    parser.add_argument("--runs", type=int, default=5, help="independent companies to average")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--per-hour", type=float, default=LEADS_PER_HOUR,
                        help="commercial leads arriving per hour (below 5 the head keeps all)")
    args = parser.parse_args()

    rules = AssignmentRules(keep=KeepRules(mode="top_share", top_share=0.1,
                                           low_volume_per_hour=5))
    strategies: dict[str, Strategy] = {"policy": policy, "raw win rate": raw_win_rate,
                                       "round robin": round_robin, "oracle": oracle}
    revenue: dict[str, list[float]] = {name: [] for name in strategies}
    won: dict[str, list[int]] = {name: [] for name in strategies}
    to_head: dict[str, list[int]] = {name: [] for name in strategies}
    for run in range(args.runs):
        rng = random.Random(args.seed * 1000 + run)
        team = make_team(rng, args.negotiators)
        leads = make_leads(rng, args.leads, args.per_hour)
        for name, strategy in strategies.items():
            result = simulate(strategy, team, leads, rules)
            revenue[name].append(result.revenue)
            won[name].append(result.won)
            to_head[name].append(result.to_head)

    console = Console(width=110)
    table = Table(title=f"{args.leads:,} leads, a head and {args.negotiators} negotiators "
                        f"(capacity {CAPACITY}), {args.per_hour:g} leads/hour, {args.runs} companies, "
                        f"seed {args.seed}",
                  title_justify="left")
    for column in ("strategy", "revenue won (RUB, mean)", "vs round robin", "of the oracle",
                   "leads won", "to the head"):
        table.add_column(column, justify="left" if column == "strategy" else "right")
    base = statistics.mean(revenue["round robin"])
    best = statistics.mean(revenue["oracle"])
    for name in strategies:
        mean = statistics.mean(revenue[name])
        table.add_row(name, f"{mean:,.0f}", f"{mean / base - 1:+.1%}", f"{mean / best:.1%}",
                      f"{statistics.mean(won[name]):,.0f}",
                      f"{statistics.mean(to_head[name]):,.0f}")
    console.print(table)
    spread = [p / r - 1 for p, r in zip(revenue["policy"], revenue["round robin"], strict=True)]
    console.print("policy vs round robin per company: "
                  + ", ".join(f"{s:+.1%}" for s in spread))


if __name__ == "__main__":
    main()
