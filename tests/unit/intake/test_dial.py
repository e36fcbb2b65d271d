"""Whom a PBX dials: the dial templates, the desk, and the decision made into a dial target."""

import uuid
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from services.intake.dial import (
    DEFAULT_TEMPLATES,
    ROUTE_DIALECTS,
    DialConfigError,
    DialPlan,
    DialTemplate,
    Outcome,
    Party,
    dial_target,
    dial_values,
    parse_dial_templates,
)
from shared.events import CallRouted, Destination

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
ANNA = uuid.UUID("8d5e2a71-0c3f-4e9b-a6d4-1b7c9e2f5a80")


def routed(**changes) -> CallRouted:
    fields = dict(event_id=uuid.uuid4(), occurred_at=NOW, call_id="office-1:a1b2",
                  caller="+79161234567", client_id=uuid.uuid4(), client_name="Romashka LLC",
                  destination=Destination.OWNER, employee_id=ANNA, employee_name="Anna Ivanova",
                  extension="101", number="+74951000101",
                  reasons=["owned by Anna Ivanova since 2026-10-02"], rules_version="9f2c4e1a")
    return CallRouted(**{**fields, **changes})


def plan(**changes) -> DialPlan:
    settings = dict(templates={"kamailio": "sip:{extension}@pbx.example.com"},
                    fallback_extension="200", fallback_number="+74951000200", region="RU")
    return DialPlan.build(**{**settings, **changes})


# --- templates -----------------------------------------------------------------------------

def test_the_defaults_suit_a_standard_install():
    templates = parse_dial_templates(None)
    assert templates["asterisk"].text == "PJSIP/{extension}"
    assert templates["freeswitch"].text == "user/{extension}"
    assert templates["twilio"].text == "{number}"
    assert set(templates) == set(DEFAULT_TEMPLATES)
    assert "kamailio" not in templates  # a SIP URI needs the site's own host


def test_an_override_replaces_one_dialect_and_keeps_the_others():
    templates = parse_dial_templates('{"asterisk": "PJSIP/{extension}@office", '
                                     '"kamailio": "sip:{extension}@pbx.example.com"}')
    assert templates["asterisk"].text == "PJSIP/{extension}@office"
    assert templates["kamailio"].text == "sip:{extension}@pbx.example.com"
    assert templates["freeswitch"].text == "user/{extension}"


@pytest.mark.parametrize("overrides", [None, "", "  ", {}])
def test_no_override_is_the_defaults(overrides):
    assert {d: t.text for d, t in parse_dial_templates(overrides).items()} == DEFAULT_TEMPLATES


@pytest.mark.parametrize(("overrides", "says"), [
    ({"asterisk": "PJSIP/{exten}"}, "names {exten}; known: {extension}, {number}"),
    ({"asterisks": "PJSIP/{extension}"}, "unknown dialect 'asterisks'"),
    ({"asterisk": "PJSIP/{extension"}, "write a literal brace as {{ or }}"),
    ({"asterisk": "PJSIP/200"}, "names no one"),
    ({"asterisk": ""}, "must be non-empty text"),
    ({"asterisk": 101}, "must be non-empty text"),
    ({"asterisk": "PJSIP/{extension!r}"}, "no format or conversion"),
    ({"twilio": "{number:>20}"}, "no format or conversion"),
    ({"asterisk": "PJSIP/{}"}, "names {}"),
    ({"asterisk": "PJSIP/{0}"}, "names {0}"),
    ({"freeswitch": "user/{extension}@${domain_name}"},
     "a PBX variable is written ${{domain_name}}"),
    ("{not json", "not JSON"),
    ('["PJSIP/{extension}"]', "must be a JSON object"),
])
def test_a_template_that_cannot_work_is_refused_saying_why(overrides, says):
    with pytest.raises(DialConfigError) as refused:
        parse_dial_templates(overrides)
    assert says in str(refused.value)


def test_a_pbx_variable_is_kept_when_its_braces_are_doubled():
    template = DialTemplate.parse("freeswitch", "user/{extension}@${{domain_name}}")
    assert template.render({"extension": "101"}) == "user/101@${domain_name}"


def test_a_template_renders_nothing_when_a_placeholder_has_no_value():
    template = DialTemplate.parse("twilio", "{number}")
    assert template.render({"extension": "101", "number": None}) is None
    assert template.missing({"extension": "101"}) == ["number"]


# --- values --------------------------------------------------------------------------------

def test_number_national_is_the_number_as_dialed_at_home():
    assert dial_values(Party("101", "+74951000101"), "RU") == {
        "extension": "101", "number": "+74951000101", "number_national": "84951000101"}
    assert dial_values(Party(None, "+442079460000"), "GB")["number_national"] == "02079460000"


def test_a_number_of_another_country_stays_international():
    assert dial_values(Party(None, "+442079460000"), "RU")["number_national"] == "+442079460000"


def test_a_number_written_nationally_is_made_e164():
    assert dial_values(Party(None, "8 (495) 100-01-01"), "RU")["number"] == "+74951000101"


@pytest.mark.parametrize("extension", ["101&PJSIP/999", "101,30", "10 1", "101\n102", "${EVIL}"])
def test_an_extension_that_would_inject_into_a_dial_string_is_not_dialed(extension):
    assert dial_values(Party(extension, None), "RU")["extension"] is None


def test_a_number_that_is_no_number_is_not_dialed():
    assert dial_values(Party(None, "not a number"), "RU")["number"] is None


# --- the desk ------------------------------------------------------------------------------

def test_the_desk_comes_from_the_fallback_settings():
    desk_plan = plan(fallback_number="8 495 100-02-00")
    assert desk_plan.desk == Party("200", "+74951000200")
    assert desk_plan.desk_dial("asterisk") == "PJSIP/200"
    assert desk_plan.desk_dial("twilio") == "+74951000200"


def test_from_settings_reads_the_intake_settings_fields():
    settings = SimpleNamespace(dial={"asterisk": "SIP/{extension}"},
                               route_fallback_extension="200",
                               route_fallback_number=None, default_region="RU")
    built = DialPlan.from_settings(settings)
    assert built.desk_dial("asterisk") == "SIP/200"
    assert built.desk_dial("twilio") is None


@pytest.mark.parametrize(("changes", "says"), [
    ({"fallback_extension": "200,30"}, "SWITCHBOARD_INTAKE_ROUTE_FALLBACK_EXTENSION"),
    ({"fallback_number": "desk"}, "SWITCHBOARD_INTAKE_ROUTE_FALLBACK_NUMBER"),
    ({"fallback_number": "200"}, "is not a phone number"),
])
def test_a_desk_that_cannot_be_dialed_is_refused(changes, says):
    with pytest.raises(DialConfigError) as refused:
        plan(**changes)
    assert says in str(refused.value)


def test_the_plan_names_the_dialects_left_with_nothing_to_dial():
    problems = DialPlan.build(fallback_extension="200").problems()
    assert any(p.startswith("kamailio: no dial template") for p in problems)
    assert any(p.startswith("twilio:") and "SWITCHBOARD_INTAKE_ROUTE_FALLBACK_NUMBER" in p
               for p in problems)
    assert plan().problems() == []


# --- the dial target -----------------------------------------------------------------------

def test_a_decision_naming_someone_dials_them_then_the_desk():
    decision = routed()
    target = dial_target(decision, dialect="asterisk", plan=plan())
    assert (target.outcome, target.dial, target.desk) == (Outcome.ROUTED, "PJSIP/101", "PJSIP/200")
    assert target.decided and target.routed is decision
    assert target.reasons == tuple(decision.reasons)


@pytest.mark.parametrize(("dialect", "dial", "desk"), [
    ("generic", "101", "200"),
    ("asterisk", "PJSIP/101", "PJSIP/200"),
    ("kamailio", "sip:101@pbx.example.com", "sip:200@pbx.example.com"),
    ("freeswitch", "user/101", "user/200"),
    ("twilio", "+74951000101", "+74951000200"),
    ("zadarma", "101", "200"),
])
def test_each_dialect_dials_by_its_template(dialect, dial, desk):
    target = dial_target(routed(), dialect=dialect, plan=plan())
    assert (target.dial, target.desk) == (dial, desk)


def test_a_decision_for_the_desk_itself_rings_it_once():
    target = dial_target(routed(destination=Destination.CLIENT_DEPARTMENT, employee_id=None,
                                employee_name=None, extension="200", number=None),
                         dialect="freeswitch", plan=plan())
    assert (target.outcome, target.dial, target.desk) == (Outcome.ROUTED, "user/200", None)


def test_a_target_with_neither_extension_nor_number_gets_the_desk_and_says_so():
    target = dial_target(routed(extension=None, number=None), dialect="asterisk", plan=plan())
    assert (target.outcome, target.dial, target.desk) == (Outcome.NOTHING_TO_DIAL, "PJSIP/200",
                                                          None)
    assert target.decided
    assert target.reasons[0] == "owned by Anna Ivanova since 2026-10-02"
    assert target.reasons[-1].startswith("Anna Ivanova has no extension to dial")
    assert "desk" in target.reasons[-1]


def test_twilio_dials_numbers_so_an_extension_alone_gets_the_desk():
    target = dial_target(routed(number=None), dialect="twilio", plan=plan())
    assert (target.outcome, target.dial) == (Outcome.NOTHING_TO_DIAL, "+74951000200")
    assert "has no number to dial (twilio dials {number})" in target.reasons[-1]


def test_a_department_without_a_named_employee_is_named_by_its_destination():
    target = dial_target(routed(destination=Destination.COMMERCIAL_DEPARTMENT, employee_id=None,
                                employee_name=None, extension=None, number=None),
                         dialect="asterisk", plan=plan())
    assert target.reasons[-1].startswith("commercial department has no extension")


def test_no_decision_by_the_deadline_rings_the_desk():
    target = dial_target(None, dialect="asterisk", plan=plan())
    assert (target.outcome, target.dial, target.desk) == (Outcome.DEADLINE, "PJSIP/200", None)
    assert not target.decided and target.routed is None
    assert "deadline" in target.reasons[0]


def test_with_no_desk_for_the_dialect_there_is_nothing_to_dial_and_the_reason_says_which_setting():
    target = dial_target(None, dialect="twilio", plan=plan(fallback_number=None))
    assert target.dial is None
    assert "SWITCHBOARD_INTAKE_ROUTE_FALLBACK_NUMBER" in target.reasons[0]


def test_a_dialect_without_a_template_dials_nothing():
    target = dial_target(routed(), dialect="kamailio", plan=plan(templates=None))
    assert (target.outcome, target.dial, target.desk) == (Outcome.NOTHING_TO_DIAL, None, None)
    assert "SWITCHBOARD_INTAKE_DIAL" in target.reasons[-1]


def test_every_route_dialect_has_a_target():
    for dialect in ROUTE_DIALECTS:
        assert dial_target(routed(), dialect=dialect, plan=plan()).dial
