import uuid
from datetime import UTC, datetime, timedelta

from services.lookup.policy import (CallerRecord, LookupRules, OwnershipRecord, ShoppingRules,
                                    current_ownership, with_contacts)
from shared import business
from shared.events import ClientRef, ContactRef, Department, EmployeeRef
from shared.settings import LookupSettings

NOW = datetime(2026, 11, 27, tzinfo=UTC)
OWNER = EmployeeRef(employee_id=uuid.uuid4(), name="A", department=Department.CLIENT)


def record(days_quiet: float) -> OwnershipRecord:
    return OwnershipRecord(OWNER, NOW - timedelta(days=90), NOW - timedelta(days=days_quiet))


def test_ownership_is_current_within_the_lapse_time():
    assert current_ownership(record(29.9), NOW, timedelta(days=30)).owner == OWNER


def test_ownership_lapses_after_the_lapse_time_without_activity():
    assert current_ownership(record(30.1), NOW, timedelta(days=30)) is None


def test_no_record_no_owner():
    assert current_ownership(None, NOW, timedelta(days=30)) is None


def test_the_rules_default_to_the_business_numbers():
    rules = LookupRules()
    assert rules.ownership_lapse == timedelta(days=business.OWNERSHIP_LAPSE_DAYS)
    assert (rules.shopping.min_employees, rules.shopping.window) == (
        business.SHOPPING_MIN_EMPLOYEES, timedelta(days=business.SHOPPING_WINDOW_DAYS))


def test_the_rules_come_from_the_settings():
    settings = LookupSettings(_env_file=None, ownership_lapse_days=7, shopping_min_employees=4,
                              shopping_window_days=10, default_region="KZ")
    assert LookupRules.from_settings(settings) == LookupRules(
        ownership_lapse=timedelta(days=7),
        shopping=ShoppingRules(min_employees=4, window=timedelta(days=10)),
        default_region="KZ")


def test_contacts_of_earlier_calls_in_a_batch_join_the_history_newest_first_once():
    base = datetime(2026, 12, 1, 12, tzinfo=UTC)
    stored = ContactRef(call_id="a", occurred_at=base - timedelta(days=1))
    caller = CallerRecord(client=ClientRef(client_id=uuid.uuid4(), name="Acme",
                                           segment="corporate"), recent_contacts=[stored])
    earlier = [ContactRef(call_id="b", occurred_at=base),
               ContactRef(call_id="a", occurred_at=base - timedelta(days=1))]  # redelivered
    merged = with_contacts(caller, earlier)
    assert [c.call_id for c in merged.recent_contacts] == ["b", "a"]
    assert with_contacts(caller, []) is caller
