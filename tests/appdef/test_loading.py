"""Loading app folders: every shared and demo app, discovery rules, and what a definition holds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.appdef.factory import metadata, texts, write_app
from tests.conftest import SHARED_APPS
from tinn.appdef.loader import load_app
from tinn.appdef.registry import load_apps
from tinn.auth.xacml import XacmlRequest, evaluate
from tinn.settings import BUNDLED_APPS_DIR


def _app_folders(root: Path) -> list[Path]:
    return sorted(path.parents[1] for path in root.glob("*/*/config/applicationmetadata.json"))


ALL_APPS = _app_folders(SHARED_APPS) + _app_folders(BUNDLED_APPS_DIR)


def test_every_folder_is_found() -> None:
    # Guards the parametrisation below against an empty glob.
    assert len(_app_folders(SHARED_APPS)) == 8
    assert {p.parent.name + "/" + p.name for p in _app_folders(BUNDLED_APPS_DIR)} == {
        "ttd/soknad",
        "ttd/bekreftelse",
        "ttd/reiseregning",
    }


@pytest.mark.parametrize("folder", ALL_APPS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_app_loads(folder: Path) -> None:
    definition = load_app(folder, folder.parent.name, folder.name)
    assert definition.id == f"{folder.parent.name}/{folder.name}"
    assert definition.metadata.id == definition.id
    assert definition.process is not None and definition.process.tasks
    assert definition.policy is not None
    assert "nb" in definition.texts
    # Every form data type with model files gets a model.
    for data_type in definition.metadata.data_types:
        files = definition.model_files(data_type.id)
        if data_type.is_form_data and files is not None and (files.xsd or files.json_schema_text):
            assert definition.form_model(data_type.id) is not None, data_type.id
    json.loads(definition.served.metadata)


def test_both_roots_load_without_errors() -> None:
    registry = load_apps([BUNDLED_APPS_DIR, SHARED_APPS])
    assert registry.errors == ()
    assert len(registry) == 11
    assert [d.id for d in registry] == sorted(d.id for d in registry)
    assert registry.get("ttd", "basic") is registry.by_id("ttd/basic")
    assert {d.app for d in registry.for_org("tdd")} == {
        "contributer-restriction",
        "permissive-app",
        "task-action",
    }
    assert "ttd/soknad" in registry and "ttd/nope" not in registry


def test_basic_without_layout_sets_file_gets_them_inferred() -> None:
    definition = load_app(SHARED_APPS / "ttd" / "basic", "ttd", "basic")
    assert definition.layout_sets_inferred
    (layout_set,) = definition.layout_sets
    assert (layout_set.id, layout_set.data_type, layout_set.tasks) == ("Task_1", "model", ("Task_1",))
    assert layout_set.page_order == ("Side1",)
    assert definition.layout_set_for_task("Task_1") is layout_set
    assert json.loads(definition.served.layout_sets or b"") == {
        "sets": [{"id": "Task_1", "dataType": "model", "tasks": ["Task_1"]}]
    }
    assert [dt.id for dt in definition.data_types_for_task("Task_1")] == ["attachment", "model"]
    assert definition.footer["footer"][0]["type"] == "Link"


def test_inferred_set_takes_the_form_type_of_its_task_without_settings(tmp_path: Path) -> None:
    meta = metadata(
        "ttd",
        "infer",
        dataTypes=[
            {"id": "skjema", "taskId": "Task_1", "appLogic": {"classRef": "Altinn.App.Models.Skjema"}}
        ],
    )
    folder = write_app(
        tmp_path,
        "ttd",
        "infer",
        {
            "config/applicationmetadata.json": json.dumps(meta),
            "ui/Task_1/layouts/Side1.json": '{"data": {"layout": []}}',
            "ui/stray/notes.txt": "not a layout set",
            "ui/Other/Settings.json": '{"pages": {"order": []}, "defaultDataType": "skjema"}',
        },
    )
    definition = load_app(folder, "ttd", "infer")
    sets = {item.id: (item.data_type, item.tasks) for item in definition.layout_sets}
    assert sets == {"Other": ("skjema", ()), "Task_1": ("skjema", ("Task_1",))}


def test_frontend_test_app() -> None:
    definition = load_app(SHARED_APPS / "ttd" / "frontend-test", "ttd", "frontend-test")
    assert not definition.layout_sets_inferred
    assert [s.id for s in definition.layout_sets] == [
        "message",
        "changename",
        "group",
        "likert",
        "datalist",
        "confirm",
    ]
    assert definition.layout_set_for_task("Task_2").id == "changename"  # type: ignore[union-attr]
    changename = definition.layout_set("changename")
    assert changename is not None and changename.page_order[0] == "form"
    assert changename.rule_configuration is not None
    assert sorted(definition.texts) == ["en", "nb"]
    assert definition.text("appName", "en") == "frontend-test ENGLISH"
    assert definition.text("appName", "de") == definition.text("appName", "nb")
    assert definition.settings.feature("JsonObjectInDataResponse")
    assert json.loads(definition.served.metadata)["features"]["jsonObjectInDataResponse"] is True
    assert definition.metadata.on_entry is not None and definition.metadata.on_entry.show == "select-instance"
    species = definition.options["pet-species"].options[0]
    assert (species.value, species.label, species.help_text) == ("Dog", "Species.Dog", "Species.Dog.Help")


def test_stateless_app() -> None:
    definition = load_app(SHARED_APPS / "ttd" / "stateless-app", "ttd", "stateless-app")
    stateless = definition.layout_set("stateless")
    assert stateless is not None and stateless.tasks == ()
    model = definition.model_files("stateless")
    assert model is not None and model.prefill["QueryParameters"] == {
        "jobTitle": "JobTitle",
        "programmer": "queryParam2",
    }
    assert model.xsd is not None and model.json_schema["type"] == "object"
    assert definition.model_files("task2") is not None


def test_app_settings_are_typed() -> None:
    restriction = load_app(SHARED_APPS / "tdd" / "contributer-restriction", "tdd", "contributer-restriction")
    assert restriction.settings.enforce_data_type_task_id
    assert restriction.settings.required_validation and restriction.settings.expression_validation
    assert not restriction.settings.remove_hidden_data
    basic = load_app(SHARED_APPS / "ttd" / "basic", "ttd", "basic")
    assert not basic.settings.register_events_with_events_component
    assert not basic.settings.enforce_data_type_task_id


def test_policy_placeholders_are_replaced_for_the_pdp_but_kept_in_the_served_file() -> None:
    definition = load_app(SHARED_APPS / "ttd" / "basic", "ttd", "basic")
    assert definition.policy_xml is not None and "[ORG]" in definition.policy_xml
    assert definition.served.policy is not None and b"[APP]" in definition.served.policy
    assert definition.policy is not None
    request = XacmlRequest(
        subject={"urn:altinn:org": ["ttd"]},
        action="complete",
        resource={"urn:altinn:org": ["ttd"], "urn:altinn:app": ["basic"]},
    )
    assert evaluate(definition.policy, request).permit
    other = XacmlRequest(
        subject={"urn:altinn:org": ["ttd"]},
        action="complete",
        resource={"urn:altinn:org": ["ttd"], "urn:altinn:app": ["[APP]"]},
    )
    assert not evaluate(definition.policy, other).permit


def test_served_process_has_no_byte_order_mark() -> None:
    definition = load_app(SHARED_APPS / "ttd" / "basic", "ttd", "basic")
    assert definition.process_xml is not None and definition.process_xml.startswith(b"\xef\xbb\xbf")
    assert definition.served.process is not None and definition.served.process.startswith(b"<?xml")


def test_studio_repository_layout_with_app_subfolder(tmp_path: Path) -> None:
    write_app(tmp_path, "ttd", "repo", nested=True)
    registry = load_apps([tmp_path])
    assert registry.errors == ()
    definition = registry.get("ttd", "repo")
    assert definition is not None and definition.path == tmp_path / "ttd" / "repo" / "App"


def test_first_root_wins_and_duplicate_is_reported(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    write_app(first, "ttd", "dup", {"config/texts/resource.nb.json": texts("nb", appName="first")})
    write_app(second, "ttd", "dup")
    registry = load_apps([first, second])
    assert registry.get("ttd", "dup").text("appName") == "first"  # type: ignore[union-attr]
    (error,) = registry.errors
    assert error.path == second / "ttd" / "dup" / "config" / "applicationmetadata.json"
    assert "already loaded" in error.message


def test_missing_root_and_invalid_names_are_errors(tmp_path: Path) -> None:
    write_app(tmp_path, "TTD", "ok")
    write_app(tmp_path, "ttd", "_bad")
    write_app(tmp_path, "ttd", "good")
    registry = load_apps([tmp_path, tmp_path / "missing"])
    assert [d.id for d in registry] == ["ttd/good"]
    messages = sorted(str(error) for error in registry.errors)
    assert any("'TTD/ok' is not a valid app id" in m for m in messages)
    assert any("'ttd/_bad' is not a valid app id" in m for m in messages)
    assert any(m.endswith("missing: apps folder does not exist") for m in messages)


def test_folder_name_wins_over_metadata_id(tmp_path: Path) -> None:
    folder = write_app(
        tmp_path,
        "ttd",
        "renamed",
        {"config/applicationmetadata.json": json.dumps(metadata("ttd", "original"))},
    )
    definition = load_app(folder, "ttd", "renamed")
    assert definition.id == "ttd/renamed" and definition.metadata.id == "ttd/original"
    assert any("checkOrgApp" in warning for warning in definition.warnings)
    assert definition.storage_document["id"] == "ttd/renamed"


def test_optional_files_may_be_missing(tmp_path: Path) -> None:
    folder = write_app(
        tmp_path,
        "ttd",
        "bare",
        {
            "config/process/process.bpmn": None,
            "config/authorization/policy.xml": None,
            "config/texts/resource.nb.json": None,
        },
    )
    definition = load_app(folder, "ttd", "bare")
    assert definition.process is None and definition.policy is None
    assert definition.texts == {} and definition.served.languages is None
    assert definition.layout_sets == () and definition.served.layout_sets is None
    assert definition.footer is None and definition.options == {} and definition.models == {}
    assert definition.title() == "Testapp bare"


def test_python_logic_package_is_registered(tmp_path: Path) -> None:
    logic = (
        "def register(logic):\n    @logic.data_processor\n    async def noop(*args):\n        return None\n"
    )
    folder = write_app(tmp_path, "ttd", "logic", {"logic/__init__.py": logic})
    definition = load_app(folder, "ttd", "logic")
    assert len(definition.logic.data_processors) == 1
    plain = load_app(write_app(tmp_path, "ttd", "plain"), "ttd", "plain")
    assert plain.logic.data_processors == []


def test_cli_names_keep_working() -> None:
    registry = load_apps([BUNDLED_APPS_DIR])
    soknad = registry.get("ttd", "soknad")
    assert soknad is not None
    assert soknad.title() == "Søknad om tilskudd" and soknad.title("en") == "Application for a grant"
    assert [dt.id for dt in soknad.metadata.data_types] == ["ref-data-as-pdf", "soknad", "attachment"]
    assert [task.id for task in soknad.process.tasks] == ["Task_1"]  # type: ignore[union-attr]
    assert sorted(soknad.texts) == ["en", "nb"]
    assert soknad.path == BUNDLED_APPS_DIR / "ttd" / "soknad"
