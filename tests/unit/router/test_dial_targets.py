"""Whom a PBX dials: the decision carries the named employee's line, else the desk's."""

import pytest

from services.router.policy import route
from services.router.rules import RulesError
from shared.events import Destination
from tests.unit.router.factories import (CLIENT, GIANT, HEAD, ON_SHIFT, OWNER, RULES, enriched,
                                         owned_by, rules)

DESKS = {"client_department": {"name": "client department desk", "extension": "700",
                               "number": "+74951000700"},
         "commercial_department": {"name": "head of sales' inbox", "extension": "800"}}


def test_an_owned_client_dials_the_owner_line():
    owner = OWNER.model_copy(update={"extension": "101", "number": "+74951000101"})
    routed = route(enriched(CLIENT, owned_by(owner)), rules(desks=DESKS), ON_SHIFT)
    assert routed.destination is Destination.OWNER
    assert (routed.extension, routed.number) == ("101", "+74951000101")


def test_an_unknown_caller_dials_the_client_department_desk():
    routed = route(enriched(), rules(desks=DESKS), ON_SHIFT)
    assert (routed.extension, routed.number) == ("700", "+74951000700")


def test_an_unowned_large_corporate_client_dials_the_commercial_desk():
    routed = route(enriched(GIANT), rules(desks=DESKS), ON_SHIFT)
    assert routed.destination is Destination.COMMERCIAL_DEPARTMENT
    assert (routed.extension, routed.number) == ("800", None)


def test_an_employee_without_a_line_dials_nothing_named():
    routed = route(enriched(CLIENT, owned_by(OWNER)), rules(desks=DESKS), ON_SHIFT)
    assert routed.employee_id == OWNER.employee_id
    assert (routed.extension, routed.number) == (None, None)
    assert HEAD.extension is None


def test_desks_without_lines_are_still_valid_rules():
    routed = route(enriched(), rules(), ON_SHIFT)
    assert (routed.extension, routed.number) == (None, None)
    assert "extension" not in RULES["desks"]["client_department"]


@pytest.mark.parametrize("line", [{"extension": "1-0"}, {"number": "84951000700"}])
def test_a_desk_line_that_no_pbx_can_dial_is_refused_with_its_field(line):
    desks = {**DESKS, "client_department": {"name": "desk", **line}}
    with pytest.raises(RulesError) as refused:
        rules(desks=desks)
    assert "desks.client_department." + next(iter(line)) in str(refused.value)
