import uuid
from datetime import UTC, datetime, timedelta

from services.lookup.policy import OwnershipRecord, current_ownership
from shared.events import Department, EmployeeRef

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
