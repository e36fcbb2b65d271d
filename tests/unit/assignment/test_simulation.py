"""The revenue simulation runs on the policy functions and stays deterministic."""

import random

import bench.assignment_simulation as sim
from services.assignment.keep import KeepRules
from services.assignment.policy import AssignmentRules


def test_a_small_simulation_is_deterministic():
    rules = AssignmentRules(keep=KeepRules(mode="top_share", top_share=0.1))
    results = []
    for _ in range(2):
        rng = random.Random(3)
        team, leads = sim.make_team(rng, 6), sim.make_leads(rng, 400, 2.0)
        results.append({name: sim.simulate(strategy, team, leads, rules)
                        for name, strategy in (("policy", sim.policy),
                                               ("round robin", sim.round_robin),
                                               ("oracle", sim.oracle))})
    assert results[0] == results[1]
    [run, _] = results
    assert all(r.won > 0 for r in run.values())
    assert run["oracle"].revenue >= run["round robin"].revenue
