import uuid

from services.assignment.auth import TOKEN_PREFIX, may_work_the_inbox, new_token, token_hash
from shared.events import Department, EmployeeRef


def employee(department=Department.COMMERCIAL, role="head", active=True) -> EmployeeRef:
    return EmployeeRef(employee_id=uuid.uuid4(), name="X", department=department, role=role,
                       active=active)


def test_tokens_are_random_and_only_their_hash_is_kept():
    first, second = new_token(), new_token()
    assert first != second and first.startswith(TOKEN_PREFIX) and len(first) > 40
    assert token_hash(first) == token_hash(first + "\n") != token_hash(second)
    assert first not in token_hash(first) and len(token_hash(first)) == 64


def test_only_a_working_head_of_sales_works_the_inbox():
    assert may_work_the_inbox(employee())
    assert not may_work_the_inbox(employee(role="agent"))
    assert not may_work_the_inbox(employee(department=Department.CLIENT))
    assert not may_work_the_inbox(employee(active=False))
