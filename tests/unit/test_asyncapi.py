"""The event contract: docs/asyncapi.yaml is what the code generates today, it documents every
topic and every field, and the reference AsyncAPI parser (npm `@asyncapi/parser`) accepts it."""

from __future__ import annotations

import difflib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from shared import topics

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = ROOT / "docs" / "asyncapi.yaml"
VALIDATOR = ROOT / "tools" / "asyncapi"


@pytest.fixture(scope="module")
def generated() -> str:
    """What `make docs` writes, generated in a process of its own: the contract's broker takes
    the services' routers from their own brokers (a FastStream router has one parent), which
    must not happen to the services this test process imports."""
    made = subprocess.run(
        [sys.executable, "-c", "import sys; from switchboard.contract import app; "
         "sys.stdout.write(app.schema.to_specification().to_yaml())"],
        cwd=ROOT, capture_output=True, encoding="utf-8", timeout=120, check=False,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"})
    assert made.returncode == 0, made.stderr
    return made.stdout


@pytest.fixture(scope="module")
def document() -> dict:
    assert DOCUMENT.is_file(), f"{DOCUMENT} is missing: run `make docs`"
    return yaml.safe_load(DOCUMENT.read_text(encoding="utf-8"))


def test_the_committed_document_is_what_the_code_generates(generated):
    committed = DOCUMENT.read_text(encoding="utf-8")
    if committed != generated:
        diff = "".join(difflib.unified_diff(
            committed.splitlines(keepends=True), generated.splitlines(keepends=True),
            "docs/asyncapi.yaml (committed)", "generated from the code", n=2))
        pytest.fail("docs/asyncapi.yaml is out of date with the code: run `make docs` and "
                    f"commit it.\n{diff[:4000]}")


def _schemas(document: dict) -> dict:
    return document["components"]["schemas"]


def _resolve(schemas: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = schemas[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _payload(document: dict, message_ref: dict) -> dict:
    name = message_ref["$ref"].rsplit("/", 1)[-1]
    message = document["components"]["messages"][name]
    return _resolve(_schemas(document), message["payload"])


def test_every_topic_of_the_registry_is_a_channel_with_its_event(document):
    payloads: dict[str, set[str]] = {}
    for channel in document["channels"].values():
        for message in channel["messages"].values():
            payload = _payload(document, message)
            payloads.setdefault(channel["address"], set()).add(payload.get("title", ""))
    for topic in topics.ALL:
        assert topic.name in payloads, f"{topic.name} is not in the document"
        expected = topic.event.__name__ if topic.event else "GenericCallEvent"
        assert expected in payloads[topic.name], (topic.name, payloads[topic.name])


def test_every_channel_is_described(document):
    undescribed = [name for name, channel in document["channels"].items()
                   if not channel.get("description")]
    assert not undescribed, undescribed


def _kinds(schemas: dict, prop: dict) -> set[str]:
    options = prop.get("anyOf") or prop.get("allOf") or [prop]
    kinds = set()
    for option in options:
        if option.get("type") == "null":
            continue
        resolved = _resolve(schemas, option)
        if "enum" in resolved or "const" in resolved:
            kinds.add("enum")  # the values are listed: they document themselves
        elif resolved.get("type") == "object" or "properties" in resolved:
            kinds.add("object")  # its own fields are checked where it is defined
        elif resolved.get("type") == "array":
            item = _resolve(schemas, resolved.get("items", {}))
            nested = item.get("type") == "object" or "properties" in item or "enum" in item
            kinds.add("objects" if nested else "scalars")
        else:
            kinds.add("scalars")
    return kinds


def test_every_field_has_a_description_and_examples(document):
    schemas = _schemas(document)
    problems = []
    for name, schema in schemas.items():
        for field, prop in (schema.get("properties") or {}).items():
            if "const" in prop:  # event_type: the value is the documentation
                continue
            if not prop.get("description"):
                problems.append(f"{name}.{field}: no description")
            if "scalars" in _kinds(schemas, prop) and not prop.get("examples"):
                problems.append(f"{name}.{field}: no examples")
    assert not problems, "add Field(description=..., examples=[...]):\n" + "\n".join(problems)


def test_the_document_promises_additive_changes(document):
    description = document["info"]["description"]
    assert "schema_version" in description and "additive" in description


def test_the_asyncapi_parser_accepts_the_document():
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed to run @asyncapi/parser (tools/asyncapi)")
    if not (VALIDATOR / "node_modules" / "@asyncapi" / "parser").is_dir():
        installed = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=VALIDATOR,
            capture_output=True, text=True, timeout=600)
        assert installed.returncode == 0, f"npm ci failed:\n{installed.stdout}{installed.stderr}"
    result = subprocess.run(
        [node, str(VALIDATOR / "validate.mjs"), str(DOCUMENT)],
        capture_output=True, text=True, timeout=120)
    report = result.stdout + result.stderr
    assert result.returncode == 0, f"the AsyncAPI parser rejects docs/asyncapi.yaml:\n{report}"
    assert "valid AsyncAPI 3.0.0" in report
    assert not [line for line in report.splitlines() if line.startswith("error")], report
