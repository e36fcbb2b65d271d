"""Each business number has one home (shared/business.py); where two services apply it, they
must agree, and where two numbers depend on each other, the order holds."""

import json
import re
from pathlib import Path

from services.assignment.policy import AssignmentRules
from services.lookup.policy import LookupRules, ShoppingRules
from services.router.rules import load_rules
from shared import business
from shared.settings import AssignmentSettings, LookupSettings, RouterSettings

ROOT = Path(__file__).resolve().parents[2]


def test_the_lookup_and_the_assignment_lapse_ownership_alike():
    # The lookup stops calling a lapsed owner the owner; the assignment lets the next
    # assignee take the client over after the same time.
    lookup = LookupRules.from_settings(LookupSettings(_env_file=None))
    assignment = AssignmentRules.from_settings(AssignmentSettings(_env_file=None))
    assert lookup.ownership_lapse == assignment.ownership_lapse
    assert lookup.ownership_lapse.days == business.OWNERSHIP_LAPSE_DAYS
    assert AssignmentRules().ownership_lapse.days == business.OWNERSHIP_LAPSE_DAYS


def test_shopping_k_and_w_have_one_home():
    rules = ShoppingRules()
    settings = LookupRules.from_settings(LookupSettings(_env_file=None)).shopping
    assert rules == settings
    assert (rules.min_employees, rules.window.days) == (business.SHOPPING_MIN_EMPLOYEES,
                                                        business.SHOPPING_WINDOW_DAYS)


def test_the_head_keeps_only_leads_that_reach_the_inbox():
    # Only large deals reach the head of sales: a keep threshold below the rules file's
    # "large" would never apply. Every currency the head keeps in has a deal size.
    rules = load_rules(ROOT / RouterSettings.model_fields["rules_file"].default)
    keep = AssignmentSettings(_env_file=None).keep_thresholds
    assert keep == business.KEEP_THRESHOLDS
    for currency, threshold in keep.items():
        sizes = rules.file.deal_size[currency]
        assert threshold >= sizes.large, currency


def test_settings_examples_say_the_same_numbers():
    text = (ROOT / ".env.example").read_text()

    def example(name: str) -> str:
        return re.search(rf"^#?\s*{name}=(.*)$", text, re.M).group(1).strip()

    assert int(example("SWITCHBOARD_LOOKUP_OWNERSHIP_LAPSE_DAYS")) == business.OWNERSHIP_LAPSE_DAYS
    assert int(example("SWITCHBOARD_ASSIGNMENT_OWNERSHIP_LAPSE_DAYS")) == \
        business.OWNERSHIP_LAPSE_DAYS
    assert int(example("SWITCHBOARD_LOOKUP_SHOPPING_MIN_EMPLOYEES")) == \
        business.SHOPPING_MIN_EMPLOYEES
    assert int(example("SWITCHBOARD_LOOKUP_SHOPPING_WINDOW_DAYS")) == business.SHOPPING_WINDOW_DAYS
    assert json.loads(example("SWITCHBOARD_ASSIGNMENT_KEEP_THRESHOLDS")) == business.KEEP_THRESHOLDS
