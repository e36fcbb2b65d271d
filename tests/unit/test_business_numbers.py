"""Each business number has one home (shared/business.py); where two services apply it, they
must agree, and where two numbers depend on each other, the order holds."""

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from services.assignment.policy import AssignmentRules
from services.desk.policy import DeskRules
from services.lookup.policy import LookupRules, ShoppingRules
from services.router.rules import load_rules
from shared import business
from shared.settings import (ASSIGNMENT_OWNERSHIP_LAPSE_VARIABLE, LOOKUP_OWNERSHIP_LAPSE_VARIABLE,
                             OWNERSHIP_LAPSE_VARIABLE, AssignmentSettings, DeskSettings,
                             LookupSettings, OwnershipLapseSettings, RouterSettings)

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


def test_the_assignments_numbers_have_one_home():
    settings = AssignmentSettings(_env_file=None)
    assert AssignmentRules.from_settings(settings) == AssignmentRules()
    rules = AssignmentRules()
    assert rules.deadline == timedelta(seconds=business.INBOX_DEADLINE_SECONDS)
    assert rules.retry == timedelta(seconds=business.RETRY_SECONDS)
    assert rules.keep_window == timedelta(days=business.KEEP_WINDOW_DAYS)
    assert (rules.prior_strength, rules.runners_up) == (business.PRIOR_STRENGTH,
                                                        business.RUNNERS_UP)
    assert (rules.keep.top_share, rules.keep.low_volume_per_hour) == (
        business.KEEP_TOP_SHARE, business.LOW_VOLUME_PER_HOUR)


def test_the_desk_shows_chances_with_the_assignments_prior_strength():
    assert DeskRules().prior_strength == business.PRIOR_STRENGTH
    desk = DeskRules.from_settings(DeskSettings(_env_file=None), AssignmentSettings(_env_file=None))
    assert desk.prior_strength == AssignmentRules().prior_strength


def test_the_assignments_examples_say_the_same_numbers():
    text = (ROOT / ".env.example").read_text()

    def example(name: str) -> float:
        return float(re.search(rf"^#?\s*{name}=(.*)$", text, re.M).group(1).strip())

    assert example("SWITCHBOARD_OWNERSHIP_LAPSE_DAYS") == business.OWNERSHIP_LAPSE_DAYS
    assert example("SWITCHBOARD_ASSIGNMENT_INBOX_DEADLINE_SECONDS") == \
        business.INBOX_DEADLINE_SECONDS
    assert example("SWITCHBOARD_ASSIGNMENT_RETRY_SECONDS") == business.RETRY_SECONDS
    assert example("SWITCHBOARD_ASSIGNMENT_KEEP_TOP_SHARE") == business.KEEP_TOP_SHARE
    assert example("SWITCHBOARD_ASSIGNMENT_KEEP_WINDOW_DAYS") == business.KEEP_WINDOW_DAYS
    assert example("SWITCHBOARD_ASSIGNMENT_LOW_VOLUME_PER_HOUR") == business.LOW_VOLUME_PER_HOUR
    assert example("SWITCHBOARD_ASSIGNMENT_PRIOR_STRENGTH") == business.PRIOR_STRENGTH
    assert example("SWITCHBOARD_ASSIGNMENT_RUNNERS_UP") == business.RUNNERS_UP


# --- the ownership lapse: one variable, the old names honoured, a disagreement refused ----

LAPSE_NAMES = (OWNERSHIP_LAPSE_VARIABLE, LOOKUP_OWNERSHIP_LAPSE_VARIABLE,
               ASSIGNMENT_OWNERSHIP_LAPSE_VARIABLE)
LAPSE_SERVICES = [LookupSettings, AssignmentSettings]


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in LAPSE_NAMES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def lapse(settings_class: type[OwnershipLapseSettings], **kwargs) -> timedelta:
    settings = settings_class(**{"_env_file": None, **kwargs})
    if isinstance(settings, LookupSettings):
        return LookupRules.from_settings(settings).ownership_lapse
    return AssignmentRules.from_settings(settings).ownership_lapse


@pytest.mark.parametrize("settings_class", LAPSE_SERVICES)
def test_both_services_read_the_one_lapse_variable(environment, settings_class):
    environment.setenv(OWNERSHIP_LAPSE_VARIABLE, "45")
    assert lapse(settings_class) == timedelta(days=45)


@pytest.mark.parametrize("settings_class", LAPSE_SERVICES)
@pytest.mark.parametrize("old_name", [LOOKUP_OWNERSHIP_LAPSE_VARIABLE,
                                      ASSIGNMENT_OWNERSHIP_LAPSE_VARIABLE])
def test_the_per_service_names_are_still_honoured(environment, settings_class, old_name):
    # Either service's old name, where the other service can see it too, sets the lapse of
    # both: they apply one lapse.
    environment.setenv(old_name, "21")
    assert lapse(settings_class) == timedelta(days=21)


def test_names_that_agree_are_accepted_and_the_settings_show_one_lapse(environment):
    for name in LAPSE_NAMES:
        environment.setenv(name, "60")
    settings = LookupSettings(_env_file=None)
    assert settings.ownership_lapse_days == 60
    assert lapse(AssignmentSettings) == timedelta(days=60)
    dumped = settings.model_dump()
    assert dumped["ownership_lapse_days"] == 60
    assert not any(key.startswith("lapse_days") for key in dumped)


@pytest.mark.parametrize("settings_class", LAPSE_SERVICES)
def test_a_service_refuses_to_start_when_the_lapse_names_disagree(environment, settings_class):
    environment.setenv(LOOKUP_OWNERSHIP_LAPSE_VARIABLE, "30")
    environment.setenv(ASSIGNMENT_OWNERSHIP_LAPSE_VARIABLE, "60")
    with pytest.raises(ValidationError) as refused:
        settings_class(_env_file=None)
    message = str(refused.value)
    assert f"{LOOKUP_OWNERSHIP_LAPSE_VARIABLE}=30" in message
    assert f"{ASSIGNMENT_OWNERSHIP_LAPSE_VARIABLE}=60" in message
    assert "must agree on when an owner's hold lapses" in message


def test_the_shared_name_and_a_services_own_name_must_agree_too(environment, tmp_path):
    # A .env file counts like the environment.
    env_file = tmp_path / ".env"
    env_file.write_text(f"{OWNERSHIP_LAPSE_VARIABLE}=14\n")
    environment.setenv(ASSIGNMENT_OWNERSHIP_LAPSE_VARIABLE, "30")
    with pytest.raises(ValidationError, match=f"{OWNERSHIP_LAPSE_VARIABLE}=14"):
        AssignmentSettings(_env_file=env_file)
    environment.setenv(ASSIGNMENT_OWNERSHIP_LAPSE_VARIABLE, "14")
    assert AssignmentSettings(_env_file=env_file).ownership_lapse_days == 14


def test_a_lapse_given_in_code_must_agree_with_the_environment(environment):
    assert lapse(LookupSettings, ownership_lapse_days=7) == timedelta(days=7)
    environment.setenv(OWNERSHIP_LAPSE_VARIABLE, "30")
    with pytest.raises(ValidationError, match="SWITCHBOARD_LOOKUP_OWNERSHIP_LAPSE_DAYS=7"):
        LookupSettings(_env_file=None, ownership_lapse_days=7)


def test_a_lapse_below_one_day_is_refused_under_its_name(environment):
    environment.setenv(OWNERSHIP_LAPSE_VARIABLE, "0")
    with pytest.raises(ValidationError, match=OWNERSHIP_LAPSE_VARIABLE):
        LookupSettings(_env_file=None)
