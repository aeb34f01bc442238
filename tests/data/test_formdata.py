"""Form data models built from app model files, and the XML/JSON behaviour of Altinn's C# classes."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from tests.data.formdata_strategies import model_data
from tinn.data.formdata import (
    ROW_ID,
    FieldIssue,
    FormDataError,
    FormModel,
    FormModelError,
    Node,
    ValueKind,
    add_row_ids,
    coerce_data,
    data_to_xml,
    dump_json,
    empty_data,
    find_model_name,
    get_path,
    json_to_data,
    load_form_model,
    model_from_json_schema,
    prepare_for_storage,
    set_path,
    strip_row_ids,
    to_display_string,
    validate_json_schema,
    validate_xsd,
    xml_to_data,
)
from tinn.data.formdata._model import camel_case

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
APPS = SHARED / "apps"
SNAPSHOTS = SHARED / "conformance" / "basic-app-snapshots"

XML_DECLARATION = '<?xml version="1.0" encoding="utf-8"?>'
ROOT_NAMESPACES = (
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema"'
)

ALL_MODELS = sorted(
    {
        (path.parent.parent.relative_to(APPS).as_posix(), path.name.split(".")[0])
        for suffix in ("*.schema.json", "*.xsd")
        for path in APPS.glob(f"*/*/models/{suffix}")
    }
)


def model(app: str, name: str) -> FormModel:
    return load_form_model(APPS / app / "models", name)


@pytest.fixture(scope="module")
def basic() -> FormModel:
    return model("ttd/basic", "model")


@pytest.fixture(scope="module")
def modell2() -> FormModel:
    return model("ttd/multiple-datamodels-test", "modell2")


@pytest.fixture(scope="module")
def nested_group() -> FormModel:
    return model("ttd/frontend-test", "nested-group")


@pytest.fixture(scope="module")
def stateless() -> FormModel:
    return model("ttd/stateless-app", "stateless")


def write_schema(folder: Path, name: str, schema: dict[str, Any]) -> FormModel:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.schema.json").write_text(json.dumps(schema), encoding="utf-8")
    return load_form_model(folder, name)


def xml(body: str) -> bytes:
    return body.encode("utf-8")


# A Studio-style schema exercising every type and keyword the loader understands.
TYPED_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "@xsdRootElement": "skjema",
    "@xsdSchemaAttributes": {"ElementFormDefault": "Qualified", "TargetNamespace": "urn:tinn:test"},
    "type": "object",
    "required": ["pakrevd"],
    "properties": {
        "versjon": {"type": "string", "@xsdAttribute": True, "const": "2"},
        "teller": {"type": "integer", "@xsdType": "int"},
        "stort": {"type": "integer", "@xsdType": "long"},
        "lite": {"type": "integer", "@xsdType": "short"},
        "belop": {"type": "number"},
        "heltall": {"type": "integer"},
        "flyt": {"type": "integer", "@xsdType": "double"},
        "tidspunkt": {"type": "string", "format": "date-time"},
        "dato": {"type": "string", "format": "date"},
        "ja": {"type": "boolean"},
        "pakrevd": {"type": "integer", "@xsdType": "int"},
        "kanskje": {"type": ["integer", "null"], "@xsdType": "int"},
        "adresse": {"$ref": "#/$defs/Adresse"},
        "rader": {"type": "array", "items": {"$ref": "#/$defs/Rad"}},
        "koder": {"type": "array", "items": {"type": "integer", "@xsdType": "int"}},
        "tre": {"$ref": "#/$defs/Node"},
    },
    "$defs": {
        "Adresse": {
            "allOf": [
                {"$ref": "#/$defs/Base"},
                {"properties": {"gate": {"type": "string", "maxLength": 5}}, "required": ["gate"]},
            ]
        },
        "Base": {"properties": {"id": {"type": "string", "@xsdAttribute": True}}},
        "Rad": {
            "type": "object",
            "properties": {
                "altinnRowId": {"type": "string", "@xsdAttribute": True},
                "tekst": {"type": "string"},
                "mengde": {"$ref": "#/$defs/Mengde"},
            },
        },
        "Mengde": {
            "properties": {
                "enhet": {"type": "string", "@xsdAttribute": True},
                "value": {"type": "number", "@xsdText": True},
            }
        },
        "Node": {"properties": {"navn": {"type": "string"}, "barn": {"$ref": "#/$defs/Node"}}},
    },
}


TYPED = model_from_json_schema(TYPED_SCHEMA, "typed")


@pytest.fixture(scope="module")
def typed() -> FormModel:
    return TYPED


# --- loading ------------------------------------------------------------------------------------


def test_every_shared_app_model_was_found() -> None:
    assert len(ALL_MODELS) == 14
    assert ("tdd/contributer-restriction", "Skjema") in ALL_MODELS


@pytest.mark.parametrize(("app", "name"), ALL_MODELS, ids=[f"{a}/{n}" for a, n in ALL_MODELS])
def test_every_shared_model_loads_and_round_trips_empty(app: str, name: str) -> None:
    loaded = model(app, name)
    empty = empty_data(loaded)
    assert set(empty) == {p.name for p in loaded.root.properties}
    stored = data_to_xml(loaded, empty)
    assert stored.startswith(xml(f"{XML_DECLARATION}<{loaded.root_element} {ROOT_NAMESPACES}"))
    back = xml_to_data(loaded, stored)
    # Reading XML initialises lists; after that the data is stable.
    assert back == {
        k: ([] if p.is_list else v) for (k, v), p in zip(empty.items(), loaded.root.properties, strict=True)
    }
    assert data_to_xml(loaded, back) == stored
    assert xml_to_data(loaded, data_to_xml(loaded, back)) == back
    assert json_to_data(loaded, dump_json(empty)) == empty
    # Validators compile (and are cached) for every model.
    assert isinstance(validate_json_schema(loaded, back), list)
    assert isinstance(validate_xsd(loaded, stored), list)


@pytest.mark.parametrize(
    ("app", "name", "source", "root_element", "class_name"),
    [
        ("ttd/basic", "model", "json-schema", "model", "model"),
        ("tdd/contributer-restriction", "Skjema", "xsd", "Skjema", "Skjema"),
        ("ttd/frontend-test", "message", "json-schema", "Message", "MessageV1"),
        ("ttd/frontend-test", "likert", "json-schema", "melding", "LikertSurvey"),
        ("ttd/frontend-test", "datalist", "json-schema", "melding", "Datalist"),
        ("ttd/frontend-test", "nested-group", "json-schema", "NestedGroup", "NestedGroup"),
        ("ttd/frontend-test", "ServiceModel-test", "json-schema", "Skjema", "Skjema"),
        ("ttd/stateless-app", "stateless", "json-schema", "Skjema", "Skjema"),
        ("ttd/service-tasks", "Model", "json-schema", "Model", "Model"),
        ("ttd/multiple-datamodels-test", "modell2", "json-schema", "modell2", "modell2"),
    ],
)
def test_model_roots(app: str, name: str, source: str, root_element: str, class_name: str) -> None:
    loaded = model(app, name)
    assert (loaded.source, loaded.root_element, loaded.class_name, loaded.namespace) == (
        source,
        root_element,
        class_name,
        None,
    )


def test_find_model_name_for_every_shared_form_data_type() -> None:
    found = {}
    for metadata in sorted(APPS.glob("*/*/config/applicationmetadata.json")):
        app = metadata.parent.parent
        for data_type in json.loads(metadata.read_text(encoding="utf-8-sig"))["dataTypes"]:
            class_ref = (data_type.get("appLogic") or {}).get("classRef")
            if class_ref:
                key = f"{app.relative_to(APPS).as_posix()}:{data_type['id']}"
                found[key] = find_model_name(app / "models", data_type["id"], class_ref)
    assert found == {
        **{
            f"tdd/contributer-restriction:{t}": "Skjema"
            for t in (
                "default",
                "userInteractionUnspecified",
                "disallowUserCreate",
                "disallowUserDelete",
                "requiresActionToRead",
                "requiresActionToWrite",
            )
        },
        **{
            f"tdd/permissive-app:{t}": None
            for t in ("default", "userInteractionUnspecified", "disallowUserCreate", "disallowUserDelete")
        },
        "tdd/task-action:Scheme": None,
        "ttd/basic:model": "model",
        "ttd/frontend-test:message": "message",
        "ttd/frontend-test:ServiceModel-test": "ServiceModel-test",
        "ttd/frontend-test:nested-group": "nested-group",
        "ttd/frontend-test:likert": "likert",
        "ttd/frontend-test:datalist": "datalist",
        "ttd/multiple-datamodels-test:modell1": "modell1",
        "ttd/multiple-datamodels-test:modell2": "modell2",
        "ttd/multiple-datamodels-test:modell3": "modell3",
        "ttd/service-tasks:Model": "Model",
        "ttd/stateless-app:stateless": "stateless",
        "ttd/stateless-app:message": "message",
        "ttd/stateless-app:task2": "task2",
    }


def test_find_model_name_falls_back_to_case_and_class_name(tmp_path: Path) -> None:
    write_schema(
        tmp_path, "Skjemaet", {"@xsdRootElement": "Melding", "properties": {"a": {"type": "string"}}}
    )
    assert find_model_name(tmp_path, "skjemaet", None) == "Skjemaet"
    assert find_model_name(tmp_path, "form", "Altinn.App.Models.skjemaet.Melding") == "Skjemaet"
    assert find_model_name(tmp_path, "form", "Altinn.App.Models.Melding") == "Skjemaet"
    assert find_model_name(tmp_path, "form", "Altinn.App.Models.Other") is None
    assert find_model_name(tmp_path / "missing", "form", "Altinn.App.Models.Melding") is None


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({}, "No x.schema.json or x.xsd"),
        ({"x.schema.json": '{"$comment": "placeholder"}'}, "describes no data"),
        ({"x.schema.json": "{not json"}, "not readable JSON"),
        (
            {"x.schema.json": '{"properties": {"a": {"$ref": "https://example.com/s.json"}}}'},
            "Only local $ref",
        ),
        ({"x.schema.json": '{"properties": {"a": {"$ref": "#/$defs/missing"}}}'}, "does not resolve"),
        ({"x.schema.json": '{"properties": {"a b": {"type": "string"}}}'}, "not a valid XML name"),
        (
            {"x.schema.json": '{"properties": {"a": {"type": "array", "items": {"type": "array"}}}}'},
            "arrays of",
        ),
        (
            {"x.schema.json": '{"properties": {"a": {"type": "object", "@xsdAttribute": true}}}'},
            "simple type",
        ),
        (
            {
                "x.schema.json": '{"properties": {"a": {"type": "integer", "@xsdAttribute": true,'
                ' "const": "x"}}}'
            },
            "fixed",
        ),
        (
            {"x.schema.json": '{"properties": {"A": {"type": "string", "@xsdAttribute": true}, "a": {}}}'},
            "JSON name",
        ),
        (
            {
                "x.xsd": "<xs:schema xmlns:xs='http://www.w3.org/2001/XMLSchema'>"
                "<xs:element name='a' type='xs:string'/></xs:schema>"
            },
            "simple type",
        ),
        ({"x.xsd": "<!DOCTYPE x [<!ENTITY e 'e'>]><x/>"}, "cannot compile"),
    ],
)
def test_broken_model_files_are_reported(tmp_path: Path, files: dict[str, str], message: str) -> None:
    for file_name, text in files.items():
        (tmp_path / file_name).write_text(text, encoding="utf-8")
    with pytest.raises(FormModelError, match=message.replace("$", r"\$")):
        load_form_model(tmp_path, "x")


def test_model_file_names_cannot_escape_the_folder(tmp_path: Path) -> None:
    with pytest.raises(FormModelError):
        load_form_model(tmp_path, "../basic/model")


def test_placeholder_schema_falls_back_to_xsd() -> None:
    skjema = model("tdd/contributer-restriction", "Skjema")
    assert skjema.json_schema is None
    dummy = skjema.root.by_name["melding"].type
    assert dummy is not None
    assert [p.name for p in dummy.properties][:6] == [
        "name",
        "random",
        "tags",
        "simple_list",
        "nested_list",
        "toggle",
    ]
    tag = dummy.by_name["tag-with-attribute"]
    assert tag.nillable and tag.type is not None
    assert [(p.name, p.node, p.kind) for p in tag.type.properties] == [
        ("orid", Node.ATTRIBUTE, ValueKind.DECIMAL),
        ("value", Node.TEXT, ValueKind.STRING),
    ]
    assert tag.type.by_name["value"].restrictions == {"minLength": 1, "maxLength": 60}


def test_typed_schema_model(typed: FormModel) -> None:
    root = typed.root
    kinds = {p.name: p.kind for p in root.properties}
    assert kinds == {
        "versjon": ValueKind.STRING,
        "teller": ValueKind.INT,
        "stort": ValueKind.LONG,
        "lite": ValueKind.SHORT,
        "belop": ValueKind.DECIMAL,
        "heltall": ValueKind.DECIMAL,
        "flyt": ValueKind.DOUBLE,
        "tidspunkt": ValueKind.DATETIME,
        "dato": ValueKind.STRING,
        "ja": ValueKind.BOOLEAN,
        "pakrevd": ValueKind.INT,
        "kanskje": ValueKind.INT,
        "adresse": ValueKind.OBJECT,
        "rader": ValueKind.OBJECT,
        "koder": ValueKind.INT,
        "tre": ValueKind.OBJECT,
    }
    assert typed.namespace == "urn:tinn:test"
    assert root.by_name["kanskje"].nillable
    assert root.by_name["pakrevd"].min_occurs == 1
    adresse = root.by_name["adresse"].type
    assert adresse is not None and adresse.name == "Adresse"
    assert [(p.name, p.node) for p in adresse.properties] == [("id", Node.ATTRIBUTE), ("gate", Node.ELEMENT)]
    rad = root.by_name["rader"].type
    assert rad is not None and rad.is_row and "altinnRowId" not in rad.by_name
    tre = root.by_name["tre"].type
    assert tre is not None and tre.by_name["barn"].type is tre  # recursive types are shared


# --- ttd/basic ------------------------------------------------------------------------------------


def test_basic_xml_reads_as_the_recorded_json(basic: FormModel) -> None:
    data = xml_to_data(basic, b"<model><property1>1</property1><property2>1</property2></model>")
    assert data == {"property1": "1", "property2": "1", "property3": None}
    assert list(data) == ["property1", "property2", "property3"]
    assert dump_json(data) == b'{"property1":"1","property2":"1","property3":null}'
    # The recording (Verify strips quotes) shows the same object.
    recording = (
        SNAPSHOTS
        / "BasicAppTests.Full_auth=User_testCase=SimplifiedWithPrefill_1_Download-Data[0].verified.txt"
    )
    assert "property1: 1,\n    property2: 1,\n    property3: null" in recording.read_text(
        encoding="utf-8-sig"
    )


def test_basic_data_is_stored_byte_for_byte_like_altinn(basic: FormModel) -> None:
    stored = data_to_xml(basic, {"property1": "1", "property2": "1", "property3": None})
    assert stored == xml(
        f"{XML_DECLARATION}<model {ROOT_NAMESPACES}><property1>1</property1><property2>1</property2></model>"
    )
    # The recordings give the stored sizes: 200 bytes with both values, 146 for a new instance.
    assert len(stored) == 200
    assert len(data_to_xml(basic, empty_data(basic))) == 146
    assert data_to_xml(basic, empty_data(basic)).endswith(b" />")


def test_basic_empty_strings_are_kept_and_nulls_omitted(basic: FormModel) -> None:
    stored = data_to_xml(basic, {"property1": "", "property2": "  a ", "property3": None})
    assert b"<property1 /><property2>  a </property2></model>" in stored
    assert xml_to_data(basic, stored) == {"property1": "", "property2": "  a ", "property3": None}


def test_basic_accepts_root_without_or_with_declarations(basic: FormModel) -> None:
    expected = {"property1": "a", "property2": None, "property3": None}
    for body in (
        "<model><property1>a</property1></model>",
        '\ufeff<?xml version="1.0" encoding="utf-8"?>\r\n<!-- c --><model><!-- c -->'
        "<property1>a</property1></model>",
        f"<model {ROOT_NAMESPACES}><property1>a</property1><extra>x</extra>"
        "<property2 xsi:nil='true'/></model>",
        "<model unknown='1'><property1>a<!-- comment --></property1><property4/></model>",
    ):
        assert xml_to_data(basic, xml(body)) == expected


def test_namespaced_model_accepts_both_forms(typed: FormModel) -> None:
    expected_value = {"teller": 5}
    with_ns = xml_to_data(typed, xml('<skjema xmlns="urn:tinn:test"><teller>5</teller></skjema>'))
    without_ns = xml_to_data(typed, xml("<skjema><teller>5</teller></skjema>"))
    assert with_ns["teller"] == without_ns["teller"] == expected_value["teller"]
    prefixed = xml_to_data(typed, xml('<t:skjema xmlns:t="urn:tinn:test"><t:teller>6</t:teller></t:skjema>'))
    assert prefixed["teller"] == 6
    # Children in another namespace than the root are unknown to the class and ignored.
    mixed = xml_to_data(typed, xml('<skjema xmlns="urn:tinn:test"><teller xmlns="">5</teller></skjema>'))
    assert mixed["teller"] is None
    with pytest.raises(FormDataError, match=r"<skjema xmlns='urn:other'> was not expected"):
        xml_to_data(typed, xml('<skjema xmlns="urn:other"/>'))
    stored = data_to_xml(typed, with_ns)
    assert stored.startswith(
        xml(f'{XML_DECLARATION}<skjema {ROOT_NAMESPACES} versjon="2" xmlns="urn:tinn:test">')
    )
    assert xml_to_data(typed, stored) == with_ns


def test_namespace_less_model_refuses_a_namespaced_document(basic: FormModel) -> None:
    with pytest.raises(FormDataError) as error:
        xml_to_data(basic, b'<?xml version="1.0"?>\n<model xmlns="urn:x"/>')
    assert (
        error.value.message
        == "There is an error in XML document (2, 2). <model xmlns='urn:x'> was not expected."
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            b'{"property1": "1"}',
            "There is an error in XML document (1, 1). Data at the root level is invalid. "
            "Line 1, position 1.",
        ),
        (b"", "There is an error in XML document (0, 0). Root element is missing."),
        (b" \n ", "There is an error in XML document (0, 0). Root element is missing."),
        (b"<foo/>", "There is an error in XML document (1, 2). <foo xmlns=''> was not expected."),
        (
            b"<model><property1>1</property2></model>",
            "There is an error in XML document (1, 32). Opening and ending tag mismatch: "
            "property1 line 1 and property2. Line 1, position 32.",
        ),
        (
            b"<model><property1><b/></property1></model>",
            "There is an error in XML document (1, 9). 'Element' is an invalid XmlNodeType. "
            "Line 1, position 9.",
        ),
    ],
)
def test_xml_errors_are_worded_like_altinn(basic: FormModel, body: bytes, message: str) -> None:
    with pytest.raises(FormDataError) as error:
        xml_to_data(basic, body)
    assert error.value.message == message


# --- types ----------------------------------------------------------------------------------------


def test_typed_values_from_xml(typed: FormModel) -> None:
    data = xml_to_data(
        typed,
        xml(
            "<skjema><teller> 42 </teller><stort>-9223372036854775808</stort><lite>+7</lite>"
            "<belop>1.50</belop><heltall>12</heltall><flyt>1e3</flyt><tidspunkt>2024-05-01T10:00:00.1200000Z</tidspunkt>"
            "<dato>2024-05-01</dato><ja>1</ja><pakrevd>0</pakrevd>"
            "<adresse id='a1'><gate>Gata</gate></adresse>"
            "<rader altinnRowId='{6F9619FF-8B86-D011-B42D-00C04FC964FF}'><tekst>r1</tekst>"
            "<mengde enhet='kg'> 2.5 </mengde></rader><rader/>"
            "<koder>1</koder><koder>2</koder></skjema>"
        ),
    )
    assert data == {
        "versjon": "2",
        "teller": 42,
        "stort": -(2**63),
        "lite": 7,
        "belop": Decimal("1.50"),
        "heltall": Decimal(12),
        "flyt": 1000.0,
        "tidspunkt": "2024-05-01T10:00:00.12Z",
        "dato": "2024-05-01",
        "ja": True,
        "pakrevd": 0,
        "kanskje": None,
        "adresse": {"id": "a1", "gate": "Gata"},
        "rader": [
            {
                ROW_ID: "6f9619ff-8b86-d011-b42d-00c04fc964ff",
                "tekst": "r1",
                "mengde": {"enhet": "kg", "value": Decimal("2.5")},
            },
            {"tekst": None, "mengde": None},
        ],
        "koder": [1, 2],
        "tre": None,
    }
    assert (
        isinstance(data["teller"], int)
        and isinstance(data["belop"], Decimal)
        and isinstance(data["flyt"], float)
    )
    assert dump_json({"belop": data["belop"], "n": "ø"}) == '{"belop":1.50,"n":"ø"}'.encode()


def test_typed_values_are_written_like_xmlconvert(typed: FormModel) -> None:
    data = coerce_data(
        typed,
        {
            "teller": 1,
            "belop": "1e3",
            "flyt": 1e20,
            "ja": False,
            "tidspunkt": "2024-05-01T10:00",
            "kanskje": None,
            "pakrevd": None,
            "koder": [],
            "rader": [{"tekst": 'a&b<c>"', "mengde": {"enhet": 'x"y', "value": None}}],
        },
    )
    stored = data_to_xml(typed, data).decode()
    assert "<teller>1</teller>" in stored
    assert "<belop>1000</belop>" in stored
    assert "<flyt>1E+20</flyt>" in stored
    assert "<tidspunkt>2024-05-01T10:00:00</tidspunkt>" in stored
    assert "<ja>false</ja>" in stored
    # Required / nillable value types are written as nil when null, optional ones are left out.
    assert '<pakrevd xsi:nil="true" /><kanskje xsi:nil="true" />' in stored
    assert "<stort" not in stored
    assert '<rader><tekst>a&amp;b&lt;c&gt;"</tekst><mengde enhet="x&quot;y" /></rader>' in stored
    assert xml_to_data(typed, data_to_xml(typed, data))["pakrevd"] is None


@pytest.mark.parametrize(
    ("element", "text", "message"),
    [
        ("teller", "2147483648", "Value was either too large or too small for an Int32."),
        ("lite", "40000", "Value was either too large or too small for an Int16."),
        ("teller", "1.0", "The input string '1.0' was not in a correct format."),
        ("teller", "", "The input string '' was not in a correct format."),
        ("belop", "1e3", "The input string '1e3' was not in a correct format."),
        ("belop", "1" * 40, "Value was either too large or too small for a Decimal."),
        ("belop", "9" * 5000, "was not in a correct format"),
        ("flyt", "INF", "The input string 'INF' was not in a correct format."),
        ("flyt", "1e400", "Only finite numbers"),
        ("ja", "yes", "The string 'yes' is not a valid Boolean value."),
        ("tidspunkt", "2024-02-30T00:00:00", "is not a valid AllXsd value"),
    ],
)
def test_typed_xml_conversion_errors(typed: FormModel, element: str, text: str, message: str) -> None:
    with pytest.raises(FormDataError, match="There is an error in XML document") as error:
        xml_to_data(typed, xml(f"<skjema>\n<{element}>{text}</{element}></skjema>"))
    assert message in error.value.message
    assert error.value.message.startswith("There is an error in XML document (2, 2).")


def test_decimal_precision_follows_system_decimal(typed: FormModel) -> None:
    data = xml_to_data(typed, xml("<skjema><belop>0.12345678901234567890123456789012</belop></skjema>"))
    assert data["belop"] == Decimal("0.1234567890123456789012345679")
    assert json_to_data(typed, b'{"belop": 1E-40}')["belop"] == Decimal(0)


def test_message_model_from_frontend_test_has_typed_fields() -> None:
    message = model("ttd/frontend-test", "message")
    data = xml_to_data(
        message,
        xml(
            "<Message><ProcessTask>Task_1</ProcessTask><IsSomeValue>true</IsSomeValue>"
            "<SomeNumberValue>12</SomeNumberValue><GwTargetTask>Task_2</GwTargetTask></Message>"
        ),
    )
    assert data["IsSomeValue"] is True
    assert data["SomeNumberValue"] == 12 and isinstance(data["SomeNumberValue"], Decimal)
    assert data["GwTargetTask"] == "Task_2"
    assert data["Title"] is None


def test_numeric_model_from_frontend_test() -> None:
    service = model("ttd/frontend-test", "ServiceModel-test")
    numeric = service.root.by_name["Numeric"].type
    assert numeric is not None
    assert {p.name: p.kind for p in numeric.properties} == {
        "Decimal": ValueKind.DECIMAL,
        "Int32": ValueKind.INT,
        "Int64": ValueKind.LONG,
        "Int16": ValueKind.SHORT,
    }
    data = json_to_data(
        service, b'{"Numeric": {"Decimal": 1.25, "Int32": "7", "Int64": 9007199254740993, "Int16": -3}}'
    )
    assert data["Numeric"] == {"Decimal": Decimal("1.25"), "Int32": 7, "Int64": 9007199254740993, "Int16": -3}
    stored = data_to_xml(service, data)
    assert (
        b"<Numeric><Decimal>1.25</Decimal><Int32>7</Int32><Int64>9007199254740993</Int64><Int16>-3</Int16>"
        in stored
    )
    assert xml_to_data(service, stored)["Numeric"] == data["Numeric"]


def test_boolean_and_attribute_types_from_the_xsd_fallback() -> None:
    skjema = model("tdd/contributer-restriction", "Skjema")
    data = xml_to_data(
        skjema,
        xml(
            "<Skjema><melding><toggle>0</toggle><tag-with-attribute orid='12.5'>tekst</tag-with-attribute>"
            "<simple_list><simple_keyvalues><key>k</key><intValue>3</intValue></simple_keyvalues></simple_list>"
            "</melding></Skjema>"
        ),
    )
    melding = data["melding"]
    assert melding["toggle"] is False
    assert melding["tag-with-attribute"] == {"orid": Decimal("12.5"), "value": "tekst"}
    assert melding["simple_list"] == {
        "simple_keyvalues": [{"key": "k", "doubleValue": None, "intValue": Decimal(3)}]
    }
    assert melding["nested_list"] is None


# --- repeating groups and Seres value groups ---------------------------------------------------


def test_repeating_groups_read_and_write_in_schema_order(modell2: FormModel) -> None:
    body = (
        "<modell2><personer><vedlegg>b</vedlegg><fornavn>Kari</fornavn><vedlegg>c</vedlegg></personer>"
        "<tekstfelt>t</tekstfelt><personer/><questions><Id>1</Id></questions></modell2>"
    )
    data = xml_to_data(modell2, xml(body))
    assert data["personer"] == [
        {
            "fornavn": "Kari",
            "etternavn": None,
            "alder": None,
            "fødselsdato": None,
            "legitimasjon": None,
            "vedlegg": ["b", "c"],
        },
        {
            "fornavn": None,
            "etternavn": None,
            "alder": None,
            "fødselsdato": None,
            "legitimasjon": None,
            "vedlegg": [],
        },
    ]
    assert data["questions"] == [{"Id": "1", "Answer": None}]
    assert data_to_xml(modell2, data).decode() == (
        f"{XML_DECLARATION}<modell2 {ROOT_NAMESPACES}><tekstfelt>t</tekstfelt>"
        "<personer><fornavn>Kari</fornavn><vedlegg>b</vedlegg><vedlegg>c</vedlegg></personer><personer />"
        "<questions><Id>1</Id></questions></modell2>"
    )


def test_row_ids_are_added_kept_and_stripped(modell2: FormModel) -> None:
    data = json_to_data(
        modell2,
        b'{"personer": [{"fornavn": "a"}, {"ALTINNROWID": "00000000-0000-0000-0000-000000000000"},'
        b' {"altinnRowId": "6F9619FF-8B86-D011-B42D-00C04FC964FF"}], "selectedperson": {"name": "x"}}',
    )
    assert ROW_ID not in data["personer"][0] and ROW_ID not in data["personer"][1]
    ids = iter(["id-1", "id-2"])
    with_ids = add_row_ids(data, modell2, new_id=lambda: next(ids))
    assert [row[ROW_ID] for row in with_ids["personer"]] == [
        "id-1",
        "id-2",
        "6f9619ff-8b86-d011-b42d-00c04fc964ff",
    ]
    assert next(iter(with_ids["personer"][0])) == ROW_ID
    assert ROW_ID not in with_ids and ROW_ID not in with_ids["selectedperson"]
    assert ROW_ID not in data["personer"][0]  # add_row_ids copies
    stored = data_to_xml(modell2, add_row_ids(data, modell2)).decode()
    assert stored.count("<personer altinnRowId=") == 3
    assert strip_row_ids(with_ids) == strip_row_ids(data)
    assert strip_row_ids(xml_to_data(modell2, stored.encode())) == strip_row_ids(
        prepare_for_storage(modell2, data)
    )


def test_seres_value_groups(nested_group: FormModel) -> None:
    avgiver_type = nested_group.root.by_name["Endringsmelding-grp-9786"].type
    assert avgiver_type is not None
    data = json_to_data(
        nested_group,
        b'{"Endringsmelding-grp-9786": {"Avgiver-grp-9787": {'
        b'"OppgavegiverNavn-datadef-68": {"orid": 68, "value": "Ola"},'
        b'"OppgavegiverFodselsnummer-datadef-26": {"value": "  "},'
        b'"KontaktpersonEPost-datadef-27688": {"value": null}}}}',
    )
    stored = data_to_xml(nested_group, data).decode()
    assert (
        '<Endringsmelding-grp-9786 gruppeid="9786"><Avgiver-grp-9787 gruppeid="9787">'
        '<OppgavegiverNavn-datadef-68 orid="68">Ola</OppgavegiverNavn-datadef-68></Avgiver-grp-9787>'
    ) in stored
    back = xml_to_data(nested_group, stored.encode())
    avgiver = back["Endringsmelding-grp-9786"]["Avgiver-grp-9787"]
    assert avgiver["OppgavegiverNavn-datadef-68"] == {"orid": Decimal(68), "value": "Ola"}
    # A value group without a value is not stored (ShouldSerialize), so it reads back as null.
    assert avgiver["OppgavegiverFodselsnummer-datadef-26"] is None
    assert avgiver["KontaktpersonEPost-datadef-27688"] is None
    assert prepare_for_storage(nested_group, data) == back
    # Fixed attributes are present from the start, as the C# initialisers set them.
    assert empty_data(nested_group)["skjemanummer"] == Decimal(1603)
    assert empty_data(nested_group)["blankettnummer"] == "RF-1366"


# --- hostile input ----------------------------------------------------------------------------------


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<model><property1>&lol9;</property1></model>"""


@pytest.mark.parametrize(
    "body",
    [
        BILLION_LAUGHS,
        b'<?xml version="1.0"?><!DOCTYPE model [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        b"<model><property1>&xxe;</property1></model>",
        b'<!DOCTYPE model [<!ENTITY % p SYSTEM "http://127.0.0.1:9/x.dtd"> %p;]><model/>',
        b'<!DOCTYPE model SYSTEM "file:///etc/passwd"><model/>',
        b"<model><property1>&undefined;</property1></model>",
    ],
    ids=["billion-laughs", "external-entity", "parameter-entity", "external-dtd", "undeclared-entity"],
)
def test_entities_and_dtds_are_refused(basic: FormModel, body: bytes) -> None:
    with pytest.raises(FormDataError, match="There is an error in XML document") as error:
        xml_to_data(basic, body)
    assert "root:" not in error.value.message and "lollol" not in error.value.message


def test_deep_xml_is_refused_quickly(basic: FormModel) -> None:
    body = b"<model><property1>" + b"<a>" * 10_000 + b"</a>" * 10_000 + b"</property1></model>"
    with pytest.raises(FormDataError, match="depth"):
        xml_to_data(basic, body)


def test_deep_and_large_json_is_refused(basic: FormModel) -> None:
    for body in (b"[" * 10_000 + b"]" * 10_000, b'{"a":' * 10_000 + b"1" + b"}" * 10_000):
        with pytest.raises(FormDataError, match="maximum configured depth of 64"):
            json_to_data(basic, body)
    with pytest.raises(FormDataError, match="depth"):
        json_to_data(basic, b'{"a":' * 65 + b"1" + b"}" * 65)
    assert json_to_data(basic, b'{"a":' * 64 + b"1" + b"}" * 64) == empty_data(basic)
    deep_python: dict[str, Any] = {}
    node = deep_python
    for _ in range(100):
        node["x"] = {}
        node = node["x"]
    with pytest.raises(FormDataError, match="depth"):
        coerce_data(basic, deep_python)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"belop": ' + b"9" * 10_000 + b"}", "too long"),
        (b'{"belop": 1e999999999}', "too large or too small for a Decimal"),
        (b'{"belop": -1e999999999}', "too large or too small for a Decimal"),
        (b'{"flyt": 1e999}', "Only finite numbers"),
        (b'{"teller": 1e3}', "could not be converted to System.Int32"),
        (b'{"teller": 9223372036854775808}', "too large or too small for an Int32"),
        (b'{"belop": NaN}', "invalid start of a value"),
        (b'{"belop": "Infinity"}', "could not be converted to System.Decimal"),
    ],
)
def test_huge_and_special_numbers_are_refused(typed: FormModel, body: bytes, message: str) -> None:
    with pytest.raises(FormDataError, match=message):
        json_to_data(typed, body)


def test_xml_bodies_over_the_limit_are_refused(basic: FormModel, monkeypatch: pytest.MonkeyPatch) -> None:
    from tinn.data.formdata import _json, _xml

    monkeypatch.setattr(_xml, "MAX_XML_BYTES", 100)
    monkeypatch.setattr(_json, "MAX_JSON_BYTES", 100)
    with pytest.raises(FormDataError, match="exceeds 100 bytes"):
        xml_to_data(basic, b"<model>" + b" " * 200 + b"</model>")
    with pytest.raises(FormDataError, match="exceeds 100 bytes"):
        json_to_data(basic, b"{" + b" " * 200 + b"}")


# --- JSON bodies --------------------------------------------------------------------------------


def test_json_bodies_use_web_defaults(typed: FormModel) -> None:
    data = json_to_data(
        typed,
        '\ufeff{"TELLER": "12", "Belop": "-0.50", "ja": true, "Adresse": {"GATE": "g"},'
        ' "ukjent": [1, {"x": 2}],'
        ' "koder": ["1", 2], "tidspunkt": "2024-05-01T10:00:00.000+02:00"}'.encode(),
    )
    assert data["teller"] == 12
    assert data["belop"] == Decimal("-0.50")
    assert data["adresse"] == {"id": None, "gate": "g"}
    assert data["koder"] == [1, 2]
    assert data["tidspunkt"] == "2024-05-01T10:00:00+02:00"
    assert data["versjon"] == "2"  # absent fixed attribute keeps its value
    assert "ukjent" not in data


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"dato": 5}', "could not be converted to System.String. Path: $.dato"),
        (b'{"ja": "true"}', "could not be converted to System.Boolean. Path: $.ja"),
        (b'{"teller": " 5"}', "could not be converted to System.Int32"),
        (b'{"adresse": "x"}', "could not be converted to Adresse. Path: $.adresse"),
        (b'{"rader": {}}', "could not be converted to System.Collections.Generic.List`1[Rad]"),
        (b'{"koder": [null]}', "could not be converted to System.Int32. Path: $.koder[0]"),
        (b'{"rader": [{"altinnRowId": "nope"}]}', "System.Guid"),
        (b'{"versjon": null, "lite": null}', None),
        (b'{"tidspunkt": "01.05.2024"}', "not a valid AllXsd value"),
        (b'{"dato": "\\ud800"}', "invalid UTF-16"),
        (b'{"a": 1', "LineNumber: 0"),
        (b"\xff", "not valid UTF-8"),
        (b"[]", "could not be converted to skjema. Path: $"),
        (b"null", "Json deserialization returned null"),
    ],
)
def test_json_type_errors(typed: FormModel, body: bytes, message: str | None) -> None:
    if message is None:
        assert json_to_data(typed, body)["versjon"] is None
        return
    with pytest.raises(FormDataError) as error:
        json_to_data(typed, body)
    assert message in error.value.message


def test_fixed_value_types_cannot_be_null(nested_group: FormModel) -> None:
    with pytest.raises(FormDataError, match=r"System.Decimal. Path: \$.skjemanummer"):
        json_to_data(nested_group, b'{"skjemanummer": null}')


def test_strict_mode_refuses_unknown_members(typed: FormModel) -> None:
    assert json_to_data(typed, b'{"Teller": 1}', strict=True)["teller"] == 1
    with pytest.raises(FormDataError) as error:
        coerce_data(typed, {"adresse": {"gate": "g", "postnr": "0001"}}, strict=True)
    assert error.value.message == (
        "The JSON property 'postnr' could not be mapped to any .NET member contained in type 'Adresse'."
    )
    with pytest.raises(FormDataError, match="'altinnRowId' could not be mapped"):
        coerce_data(typed, {"altinnRowId": "6F9619FF-8B86-D011-B42D-00C04FC964FF"}, strict=True)
    assert coerce_data(
        typed, {"rader": [{"altinnRowId": "6F9619FF-8B86-D011-B42D-00C04FC964FF"}]}, strict=True
    )


def test_data_to_xml_checks_types(basic: FormModel) -> None:
    with pytest.raises(FormDataError, match=r"System.String. Path: \$.property1"):
        data_to_xml(basic, {"property1": 5})


def test_invalid_xml_characters_are_replaced_before_storage(basic: FormModel) -> None:
    data = coerce_data(basic, {"property1": "a\x02b\ufffe", "property2": "line\r\nbreak\ttab"})
    stored = data_to_xml(basic, data)
    assert xml_to_data(basic, stored) == {
        "property1": "a\ufffdb\ufffd",
        "property2": "line\r\nbreak\ttab",
        "property3": None,
    }


# --- paths ------------------------------------------------------------------------------------------


def test_set_path_prefills_like_altinn(stateless: FormModel) -> None:
    data = empty_data(stateless)
    path = (
        "opplysningerOmArbeidstakerengrp8819.opplysningerOmArbeidstakerengrp8855.ansattNavndatadef1223.value"
    )
    assert set_path(stateless, data, path, "Ola Nordmann")
    group = data["OpplysningerOmArbeidstakeren-grp-8819"]
    assert group["gruppeid"] == Decimal(8819)  # created intermediate objects get their fixed values
    assert group["OpplysningerOmArbeidstakeren-grp-8855"]["AnsattNavn-datadef-1223"] == {
        "orid": Decimal(1223),
        "value": "Ola Nordmann",
    }
    assert not set_path(stateless, data, path, "Kari", overwrite=False)
    assert get_path(data, path) == "Ola Nordmann"
    assert set_path(
        stateless,
        data,
        "OpplysningerOmArbeidstakeren-grp-8819.Skjemainstans-grp-8854.Journalnummer-datadef-33316.value",
        " 12 ",
    )
    assert get_path(
        data, "opplysningerOmArbeidstakeren-grp-8819.skjemainstans-grp-8854.journalnummer-datadef-33316.VALUE"
    ) == Decimal(12)
    assert set_path(stateless, data, "JobTitle", 42)
    assert data["JobTitle"] == "42"
    with pytest.raises(FormDataError, match="property nope is not defined"):
        set_path(stateless, data, "nope.value", "x")
    with pytest.raises(FormDataError, match="Could not prefill the field"):
        set_path(stateless, data, path.replace(".value", ".orid"), "abc")
    with pytest.raises(FormDataError, match="not an object"):
        set_path(stateless, data, "JobTitle.x", "x")
    assert xml_to_data(stateless, data_to_xml(stateless, data)) == prepare_for_storage(stateless, data)


def test_set_path_converts_to_the_property_type(typed: FormModel) -> None:
    data = empty_data(typed)
    for path, value, expected in [
        ("teller", "17", 17),
        ("belop", "1.25", Decimal("1.25")),
        ("ja", "TRUE", True),
        ("flyt", 2, 2.0),
        ("tidspunkt", "2024-01-02T03:04:05Z", "2024-01-02T03:04:05Z"),
        ("koder", [1, "2"], [1, 2]),
        ("adresse.gate", "x", "x"),
        ("teller", None, None),
    ]:
        set_path(typed, data, path, value)
        assert get_path(data, path) == expected
    with pytest.raises(FormDataError):
        set_path(typed, data, "ja", "kanskje")
    with pytest.raises(FormDataError):
        set_path(typed, data, "rader.tekst", "x")
    with pytest.raises(FormDataError, match="not a valid data model path"):
        set_path(typed, data, "adresse..gate", "x")


def test_get_path_reads_presentation_fields(modell2: FormModel) -> None:
    data = xml_to_data(
        modell2, xml("<modell2><personer><fornavn>A</fornavn></personer><selectedperson/></modell2>")
    )
    assert get_path(data, "personer[0].fornavn") == "A"
    assert get_path(data, "Personer[1].fornavn") is None
    assert get_path(data, "personer.fornavn") is None
    assert get_path(data, "personer") == data["personer"]
    assert get_path(data, "selectedperson.name") is None
    assert get_path(data, "sektor") is None
    with pytest.raises(FormDataError, match="property ukjent is not defined"):
        get_path(data, "ukjent")
    assert [to_display_string(v) for v in (None, True, Decimal("1.50"), 2.5, "x", [1])] == [
        None,
        "True",
        "1.50",
        "2.5",
        "x",
        None,
    ]


# --- validation ---------------------------------------------------------------------------------


def test_json_schema_validation_reports_field_paths(modell2: FormModel) -> None:
    data = json_to_data(
        modell2,
        '{"tekstfelt": "12345678901", "personer": [{"fødselsdato": "1899-12-31"},'
        ' {"fødselsdato": "2020-13-01", "alder": 1.5}]}'.encode(),
    )
    issues = validate_json_schema(modell2, data)
    assert set(issues) == {
        FieldIssue("tekstfelt", "maxLength", '"12345678901" is longer than 10 characters'),
        FieldIssue("postnummer", "required", '"postnummer" is a required property'),
        FieldIssue("personer[0].fødselsdato", "formatMinimum", "must be >= 1900-01-01"),
        FieldIssue("personer[1].fødselsdato", "format", '"2020-13-01" is not a "date"'),
        FieldIssue("personer[1].alder", "type", '1.5 is not of type "integer"'),
    }
    assert (
        validate_json_schema(
            modell2, {"tekstfelt": "ok", "postnummer": "0001", "personer": [{"fødselsdato": "1900-01-01"}]}
        )
        == []
    )


def test_json_schema_validation_handles_legacy_schemas(stateless: FormModel, nested_group: FormModel) -> None:
    # Fixed attributes are numbers in the data, strings in the schema's "const": not an issue.
    assert validate_json_schema(stateless, empty_data(stateless)) == []
    data = json_to_data(
        nested_group,
        b'{"Endringsmelding-grp-9786": {"gruppeid": 9786, "Avgiver-grp-9787": {"gruppeid": 9787,'
        b' "OppgavegiverNavn-datadef-68": {"orid": 68, "value": ""}}}}',
    )
    issues = validate_json_schema(nested_group, data)
    assert [(i.field, i.code) for i in issues] == [
        ("Endringsmelding-grp-9786.Avgiver-grp-9787.OppgavegiverNavn-datadef-68.value", "minLength")
    ]


def test_validators_are_compiled_once(modell2: FormModel) -> None:
    validate_json_schema(modell2, {})
    validate_xsd(modell2, b"<modell2/>")
    json_validator, xsd_schema = modell2.cached("json-schema", None), modell2.cached("xsd", None)
    validate_json_schema(modell2, {})
    validate_xsd(modell2, b"<modell2/>")
    assert modell2.cached("json-schema", None) is json_validator
    assert modell2.cached("xsd", None) is xsd_schema


def test_xsd_validation_reports_field_paths(modell2: FormModel) -> None:
    body = (
        "<modell2><tekstfelt>t</tekstfelt><personer><alder>x</alder></personer>"
        "<personer><fødselsdato>2020-13-01</fødselsdato></personer><foo/></modell2>"
    )
    issues = validate_xsd(modell2, xml(body))
    assert [(i.field, i.code) for i in issues] == [
        ("personer[0].alder", "type"),
        ("personer[1].fødselsdato", "type"),
        ("postnummer", "required"),
        ("foo", "unexpected"),
    ]
    assert validate_xsd(modell2, data_to_xml(modell2, {"tekstfelt": "t", "postnummer": "p"})) == []


def test_xsd_validation_of_attributes_and_simple_content(stateless: FormModel) -> None:
    skjema = model("tdd/contributer-restriction", "Skjema")
    body = (
        "<Skjema><melding><tag-with-attribute orid='x'>"
        + "y" * 61
        + "</tag-with-attribute></melding></Skjema>"
    )
    assert [(i.field, i.code) for i in validate_xsd(skjema, xml(body))] == [
        ("melding.tag-with-attribute.orid", "type"),
        ("melding.tag-with-attribute.value", "maxLength"),
    ]
    missing = "<Skjema><melding><tag-with-attribute>y</tag-with-attribute></melding></Skjema>"
    assert [(i.field, i.code) for i in validate_xsd(skjema, xml(missing))] == [
        ("melding.tag-with-attribute.orid", "required")
    ]
    data = empty_data(stateless)
    set_path(
        stateless,
        data,
        "OpplysningerOmArbeidstakeren-grp-8819.OpplysningerOmArbeidstakeren-grp-8855.AnsattNavn-datadef-1223.value",
        "x" * 36,
    )
    assert [(i.field, i.code) for i in validate_xsd(stateless, data_to_xml(stateless, data))] == [
        (
            "OpplysningerOmArbeidstakeren-grp-8819.OpplysningerOmArbeidstakeren-grp-8855.AnsattNavn-datadef-1223.value",
            "maxLength",
        )
    ]
    with pytest.raises(FormDataError):
        validate_xsd(stateless, b"<Skjema")


def test_models_without_files_to_validate_against_give_no_issues(tmp_path: Path, basic: FormModel) -> None:
    only_schema = write_schema(
        tmp_path, "x", {"@xsdRootElement": "x", "properties": {"a": {"type": "string"}}}
    )
    assert validate_xsd(only_schema, b"<x><a>1</a></x>") == []
    skjema = model("tdd/contributer-restriction", "Skjema")
    assert validate_json_schema(skjema, {"melding": {"toggle": "not a bool"}}) == []


def test_camel_case_matches_system_text_json() -> None:
    cases = {
        "orid": "orid",
        "Orid": "orid",
        "URLValue": "urlValue",
        "ABC": "abc",
        "A": "a",
        "": "",
        "IPAddress": "ipAddress",
    }
    assert {name: camel_case(name) for name in cases} == cases


# --- property-based round trips -------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(data=model_data(model("ttd/basic", "model")))
def test_basic_data_survives_xml_round_trip(data: dict[str, Any]) -> None:
    basic = model("ttd/basic", "model")
    assert xml_to_data(basic, data_to_xml(basic, data)) == data
    assert json_to_data(basic, dump_json(data)) == data


MODELL2 = model("ttd/multiple-datamodels-test", "modell2")
NESTED_GROUP = model("ttd/frontend-test", "nested-group")


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(data=model_data(MODELL2))
def test_modell2_data_survives_xml_round_trip(data: dict[str, Any]) -> None:
    assert xml_to_data(MODELL2, data_to_xml(MODELL2, data)) == data
    assert json_to_data(MODELL2, dump_json(data)) == data


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(data=model_data(NESTED_GROUP))
def test_seres_data_survives_xml_round_trip(data: dict[str, Any]) -> None:
    assert xml_to_data(NESTED_GROUP, data_to_xml(NESTED_GROUP, data)) == data


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(data=model_data(TYPED))
def test_typed_data_survives_xml_round_trip(data: dict[str, Any]) -> None:
    assert xml_to_data(TYPED, data_to_xml(TYPED, data)) == data
    assert json_to_data(TYPED, dump_json(data)) == data


TYPED_XSD = """<?xml version="1.0" encoding="utf-8"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:tinn:xsd"
           xmlns="urn:tinn:xsd" elementFormDefault="qualified">
  <xs:element name="Skjema" type="SkjemaType"/>
  <xs:complexType name="Base">
    <xs:sequence><xs:element name="id" type="xs:int"/></xs:sequence>
    <xs:attribute name="altinnRowId" type="xs:string"/>
  </xs:complexType>
  <xs:complexType name="Rad">
    <xs:complexContent>
      <xs:extension base="Base">
        <xs:sequence><xs:element name="naar" type="xs:dateTime" minOccurs="0"/></xs:sequence>
      </xs:extension>
    </xs:complexContent>
  </xs:complexType>
  <xs:complexType name="SkjemaType">
    <xs:sequence>
      <xs:element name="stort" type="xs:long"/>
      <xs:choice>
        <xs:element name="a" type="xs:double"/>
        <xs:element name="b" type="xs:unsignedByte"/>
      </xs:choice>
      <xs:sequence maxOccurs="unbounded">
        <xs:element name="par" type="xs:string"/>
      </xs:sequence>
      <xs:element name="rad" type="Rad" minOccurs="0" maxOccurs="5"/>
      <xs:element name="fritt" minOccurs="0"/>
    </xs:sequence>
    <xs:attribute name="versjon" type="xs:positiveInteger" fixed="3"/>
  </xs:complexType>
</xs:schema>
"""


def test_xsd_only_models(tmp_path: Path) -> None:
    (tmp_path / "skjema.xsd").write_text(TYPED_XSD, encoding="utf-8")
    loaded = load_form_model(tmp_path, "skjema")
    assert (loaded.source, loaded.root_element, loaded.namespace) == ("xsd", "Skjema", "urn:tinn:xsd")
    props = {p.name: (p.kind, p.is_list, p.min_occurs) for p in loaded.root.properties}
    assert props == {
        "versjon": (ValueKind.DECIMAL, False, 0),
        "stort": (ValueKind.LONG, False, 1),
        "a": (ValueKind.DOUBLE, False, 0),
        "b": (ValueKind.SHORT, False, 0),
        "par": (ValueKind.STRING, True, 1),
        "rad": (ValueKind.OBJECT, True, 0),
        "fritt": (ValueKind.STRING, False, 0),
    }
    rad = loaded.root.by_name["rad"].type
    assert rad is not None and rad.is_row and [p.name for p in rad.properties] == ["id", "naar"]
    body = (
        '<Skjema xmlns="urn:tinn:xsd"><stort>1</stort><a>0.5</a><par>x</par><par>y</par>'
        '<rad altinnRowId="6F9619FF-8B86-D011-B42D-00C04FC964FF"><id>1</id>'
        "<naar>2024-01-01T00:00:00</naar></rad>"
        "</Skjema>"
    )
    data = xml_to_data(loaded, xml(body))
    assert data["versjon"] == Decimal(3)
    assert data["rad"] == [
        {ROW_ID: "6f9619ff-8b86-d011-b42d-00c04fc964ff", "id": 1, "naar": "2024-01-01T00:00:00"}
    ]
    stored = data_to_xml(loaded, data)
    assert stored.endswith(
        b'versjon="3" xmlns="urn:tinn:xsd"><stort>1</stort><a>0.5</a><par>x</par><par>y</par>'
        b'<rad altinnRowId="6f9619ff-8b86-d011-b42d-00c04fc964ff"><id>1</id>'
        b"<naar>2024-01-01T00:00:00</naar></rad></Skjema>"
    )
    assert validate_xsd(loaded, stored) == []
    assert [(i.field, i.code) for i in validate_xsd(loaded, xml('<Skjema xmlns="urn:tinn:xsd"/>'))] == [
        ("stort", "required")
    ]
