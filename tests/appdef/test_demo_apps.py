"""Tinn's own demo apps: complete, consistent, and with the access rules they promise."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tinn.appdef.definition import AppDefinition
from tinn.appdef.registry import load_apps
from tinn.auth.xacml import XacmlRequest, evaluate
from tinn.settings import BUNDLED_APPS_DIR
from tinn.xmlsafe import parse_xml

REGISTRY = load_apps([BUNDLED_APPS_DIR])
SOKNAD = REGISTRY.get("ttd", "soknad")
BEKREFTELSE = REGISTRY.get("ttd", "bekreftelse")
REISEREGNING = REGISTRY.get("ttd", "reiseregning")
DEMOS = [SOKNAD, BEKREFTELSE, REISEREGNING]
XS = "{http://www.w3.org/2001/XMLSchema}"


def test_demo_apps_load_without_errors_or_warnings() -> None:
    assert REGISTRY.errors == ()
    assert len(REGISTRY) == len(DEMOS)
    assert all(d is not None and d.warnings == () for d in DEMOS)


def _definition(name: str) -> AppDefinition:
    definition = REGISTRY.get("ttd", name)
    assert definition is not None
    return definition


def _permit(
    definition: AppDefinition, action: str, subject: dict[str, list[str]], task: str | None = None
) -> bool:
    assert definition.policy is not None
    resource = {
        "urn:altinn:org": ["ttd"],
        "urn:altinn:app": [definition.app],
        "urn:altinn:partyid": ["501337"],
    }
    if task is not None:
        resource["urn:altinn:task"] = [task]
    return evaluate(definition.policy, XacmlRequest(subject=subject, action=action, resource=resource)).permit


PRIV = {"urn:altinn:rolecode": ["PRIV"]}
DAGL = {"urn:altinn:rolecode": ["DAGL"]}
REGNA = {"urn:altinn:rolecode": ["REGNA"]}
OWNER = {"urn:altinn:org": ["ttd"]}
OTHER_ORG = {"urn:altinn:org": ["skd"]}


@pytest.mark.parametrize(
    ("subject", "action", "allowed"),
    [
        (PRIV, "instantiate", True),
        (DAGL, "read", True),
        (DAGL, "write", True),
        (PRIV, "delete", False),
        (PRIV, "complete", False),
        (REGNA, "read", False),
        (OWNER, "read", True),
        (OWNER, "write", True),
        (OWNER, "complete", True),
        (OWNER, "delete", True),
        (OWNER, "instantiate", False),
        (OTHER_ORG, "read", False),
    ],
)
def test_soknad_policy(subject: dict[str, list[str]], action: str, allowed: bool) -> None:
    assert _permit(_definition("soknad"), action, subject, "Task_1") is allowed


@pytest.mark.parametrize(
    ("subject", "action", "task", "allowed"),
    [
        (PRIV, "write", "Task_1", True),
        (PRIV, "confirm", "Task_2", True),
        (DAGL, "confirm", "Task_2", True),
        (PRIV, "confirm", "Task_1", False),
        (OWNER, "confirm", "Task_2", False),
        (OWNER, "complete", "Task_2", True),
    ],
)
def test_bekreftelse_policy(subject: dict[str, list[str]], action: str, task: str, allowed: bool) -> None:
    assert _permit(_definition("bekreftelse"), action, subject, task) is allowed


@pytest.mark.parametrize("app", ["soknad", "bekreftelse", "reiseregning"])
@pytest.mark.parametrize(
    ("subject", "action", "allowed"),
    [
        (OWNER, "read", True),
        (PRIV, "read", True),
        (REGNA, "read", True),
        (OTHER_ORG, "read", False),
        (REGNA, "write", False),
    ],
)
def test_app_events_may_be_read_by_owner_and_instance_owner(
    app: str, subject: dict[str, list[str]], action: str, allowed: bool
) -> None:
    definition = _definition(app)
    assert definition.policy is not None
    resource = {
        "urn:altinn:org": ["ttd"],
        "urn:altinn:app": [app],
        "urn:altinn:partyid": ["501337"],
        "urn:altinn:appresource": ["events"],
    }
    request = XacmlRequest(subject=subject, action=action, resource=resource)
    assert evaluate(definition.policy, request).permit is allowed


@pytest.mark.parametrize(
    ("subject", "action", "task", "allowed"),
    [
        (PRIV, "instantiate", "Task_1", True),
        (PRIV, "write", "Task_1", True),
        (PRIV, "eksempel", "Task_1", True),
        (DAGL, "eksempel", "Task_1", True),
        (PRIV, "eksempel", "Task_2", False),
        (REGNA, "eksempel", "Task_1", False),
        (PRIV, "confirm", "Task_2", True),
        (PRIV, "confirm", "Task_1", False),
        (OWNER, "eksempel", "Task_1", False),
        (OWNER, "confirm", "Task_2", False),
        (OWNER, "complete", "Task_2", True),
    ],
)
def test_reiseregning_policy(subject: dict[str, list[str]], action: str, task: str, allowed: bool) -> None:
    assert _permit(_definition("reiseregning"), action, subject, task) is allowed


def test_soknad_shape() -> None:
    soknad = _definition("soknad")
    assert soknad.process is not None
    assert [(t.id, t.task_type) for t in soknad.process.tasks] == [("Task_1", "data")]
    attachment = soknad.data_type("attachment")
    assert attachment is not None and not attachment.is_form_data
    assert attachment.allowed_content_types == ["application/pdf", "image/png", "image/jpeg"]
    assert (attachment.max_size, attachment.max_count, attachment.task_id) == (10, 5, "Task_1")
    assert soknad.data_type("ref-data-as-pdf") is not None
    form = soknad.form_model("soknad")
    assert form is not None and form.root_element == "Soknad"
    assert soknad.settings.required_validation and soknad.settings.expression_validation
    assert soknad.text("appName") == "Søknad om tilskudd"


def test_bekreftelse_shape() -> None:
    app = _definition("bekreftelse")
    assert app.process is not None
    tasks = [(t.id, t.task_type, [a.id for a in t.actions]) for t in app.process.tasks]
    assert tasks == [("Task_1", "data", []), ("Task_2", "confirmation", ["confirm"])]
    assert app.layout_set_for_task("Task_2").id == "bekreftelse"  # type: ignore[union-attr]
    assert app.settings.enforce_data_type_task_id


def test_reiseregning_shape() -> None:
    app = _definition("reiseregning")
    assert app.process is not None
    tasks = [(t.id, t.task_type, [a.id for a in t.actions]) for t in app.process.tasks]
    assert tasks == [("Task_1", "data", ["eksempel"]), ("Task_2", "confirmation", ["confirm"])]
    assert app.layout_set_for_task("Task_2").id == "godkjenning"  # type: ignore[union-attr]
    # Every hook the worked example of docs/apps.md registers.
    logic = app.logic
    assert len(logic.instantiation_validators) == len(logic.data_creation) == len(logic.data_processors) == 1
    assert [v.source for v in logic.validators] == ["Reise.BelopValidator"]
    assert list(logic.gateways) == ["Gateway_Godkjenning"]
    assert list(logic.user_actions) == ["eksempel"]
    # Organisations pass partyTypesAllowed so that the app logic is what refuses them.
    assert app.metadata.party_types_allowed is not None
    assert app.metadata.party_types_allowed.organisation and app.metadata.party_types_allowed.person


def _walk(node: Any) -> Iterator[Any]:
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


@pytest.mark.parametrize("definition", DEMOS, ids=lambda d: d.id if d else "missing")
def test_every_text_key_used_exists_in_both_languages(definition: AppDefinition) -> None:
    keys: set[str] = set()
    for layout_set in definition.layout_sets:
        keys.update(layout_set.page_order)
        for layout in layout_set.layouts.values():
            for node in _walk(layout):
                if isinstance(node, dict) and isinstance(node.get("textResourceBindings"), dict):
                    keys.update(v for v in node["textResourceBindings"].values() if isinstance(v, str))
    for option_list in definition.options.values():
        keys.update(o.label for o in option_list.options if o.label)
        keys.update(o.description for o in option_list.options if o.description)
    for model in definition.models.values():
        for rules in (model.validation or {}).get("validations", {}).values():
            keys.update(rule["message"] for rule in rules)
    assert keys
    for language in ("nb", "en"):
        resource = definition.texts[language]
        present = {element.id for element in resource.resources or ()}
        assert keys <= present, (language, sorted(keys - present))
        assert len(present) == len(resource.resources or ()), "duplicate text keys"
    norwegian = " ".join(element.value or "" for element in definition.texts["nb"].resources or ())
    assert set("æøå") & set(norwegian)


def _xsd_fields(xsd: str, root: str) -> tuple[set[str], set[str]]:
    schema = parse_xml(xsd)
    element = schema.find(f"{XS}element[@name='{root}']")
    assert element is not None
    fields: set[str] = set()
    required: set[str] = set()
    for child in element.iter(f"{XS}element"):
        if child is element or child.getparent().getparent().getparent() is not element:  # type: ignore[union-attr]
            continue
        fields.add(child.get("name", ""))
        if child.get("minOccurs", "1") != "0":
            required.add(child.get("name", ""))
    return fields, required


@pytest.mark.parametrize(
    ("name", "model", "root"),
    [
        ("soknad", "soknad", "Soknad"),
        ("bekreftelse", "flyttemelding", "Flyttemelding"),
        ("reiseregning", "reise", "Reise"),
    ],
)
def test_xsd_and_json_schema_agree(name: str, model: str, root: str) -> None:
    files = _definition(name).model_files(model)
    assert files is not None and files.xsd is not None
    schema = files.json_schema
    assert schema["@xsdRootElement"] == root
    fields, required = _xsd_fields(files.xsd, root)
    assert fields == set(schema["properties"])
    assert required == set(schema["required"])
