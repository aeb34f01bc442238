from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest

from tinn.process.bpmn import (
    BpmnError,
    EndEvent,
    EnvironmentDataTypes,
    EnvironmentValue,
    ExclusiveGateway,
    ProcessDefinition,
    StartEvent,
    Task,
    TaskAction,
    authorising_actions,
    default_action,
    is_service_task_type,
    load_bpmn,
    parse_bpmn,
    value_for_environment,
)

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
APPS = SHARED / "apps"
SHARED_BPMN = sorted(APPS.glob("*/*/config/process/process.bpmn"))

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"


def app_process(org_app: str) -> ProcessDefinition:
    return load_bpmn(APPS / org_app / "config" / "process" / "process.bpmn")


def bpmn(body: str, *, prefix: str = "bpmn", altinn_ns: str = "http://altinn.no/process") -> str:
    """A definitions document around ``body`` (written with ``bpmn:``), using ``prefix`` for the
    BPMN namespace (empty for a default namespace)."""
    body = textwrap.dedent(body).strip("\n")
    tag = f"{prefix}:" if prefix else ""
    body = body.replace("<bpmn:", f"<{tag}").replace("</bpmn:", f"</{tag}")
    declaration = f'xmlns:{prefix}="{BPMN_NS}"' if prefix else f'xmlns="{BPMN_NS}"'
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<{tag}definitions {declaration} xmlns:altinn="{altinn_ns}" id="Defs">\n'
        f'<{tag}process id="P" isExecutable="false">\n'
        f"{body}\n"
        f"</{tag}process>\n"
        f"</{tag}definitions>\n"
    )


def line_of(document: str, needle: str, occurrence: int = 1) -> int:
    """1-based line of the ``occurrence``-th line containing ``needle``."""
    hits = [n for n, line in enumerate(document.splitlines(), start=1) if needle in line]
    return hits[occurrence - 1]


LINEAR = """
<bpmn:startEvent id="Start"><bpmn:outgoing>F1</bpmn:outgoing></bpmn:startEvent>
<bpmn:task id="T1" name="Fill in">
  <bpmn:incoming>F1</bpmn:incoming>
  <bpmn:outgoing>F2</bpmn:outgoing>
  <bpmn:extensionElements>
    <altinn:taskExtension><altinn:taskType>data</altinn:taskType></altinn:taskExtension>
  </bpmn:extensionElements>
</bpmn:task>
<bpmn:endEvent id="End"><bpmn:incoming>F2</bpmn:incoming></bpmn:endEvent>
<bpmn:sequenceFlow id="F1" sourceRef="Start" targetRef="T1" />
<bpmn:sequenceFlow id="F2" sourceRef="T1" targetRef="End" />
"""


def task_with(extension: str, *, element: str = "task", task_type: str = "data") -> str:
    """A linear process whose only task carries ``extension`` inside its taskExtension."""
    return bpmn(
        f"""
        <bpmn:startEvent id="Start"><bpmn:outgoing>F1</bpmn:outgoing></bpmn:startEvent>
        <bpmn:{element} id="T1">
          <bpmn:extensionElements>
            <altinn:taskExtension>
              <altinn:taskType>{task_type}</altinn:taskType>
              {extension}
            </altinn:taskExtension>
          </bpmn:extensionElements>
        </bpmn:{element}>
        <bpmn:endEvent id="End" />
        <bpmn:sequenceFlow id="F1" sourceRef="Start" targetRef="T1" />
        <bpmn:sequenceFlow id="F2" sourceRef="T1" targetRef="End" />
        """
    )


def gateway_process(gateway: str, flows: str) -> str:
    """Start -> T1 -> gateway G -> (T2 | End), with the gateway and its outgoing flows given."""
    return bpmn(
        f"""
        <bpmn:startEvent id="Start" />
        <bpmn:task id="T1" altinn:tasktype="data" />
        {gateway}
        <bpmn:task id="T2" altinn:tasktype="confirmation" />
        <bpmn:endEvent id="End" />
        <bpmn:sequenceFlow id="F1" sourceRef="Start" targetRef="T1" />
        <bpmn:sequenceFlow id="F2" sourceRef="T1" targetRef="G" />
        {flows}
        <bpmn:sequenceFlow id="F5" sourceRef="T2" targetRef="End" />
        """
    )


def warning_messages(definition: ProcessDefinition) -> list[tuple[str | None, str]]:
    return [(w.element_id, w.message) for w in definition.warnings]


# --- every shared app loads ---


def test_the_shared_apps_are_all_found() -> None:
    assert len(SHARED_BPMN) == 8


@pytest.mark.parametrize("path", SHARED_BPMN, ids=lambda p: "/".join(p.parts[-5:-3]))
def test_every_shared_process_loads_into_a_consistent_graph(path: Path) -> None:
    definition = load_bpmn(path)

    assert definition.source == str(path)
    assert definition.start_events and definition.end_events and definition.tasks
    assert all(task.task_type for task in definition.tasks)
    assert {e.id for e in definition.start_events} <= set(definition.elements)
    for element_id in definition.elements:
        for flow in definition.outgoing_flows(element_id):
            assert definition.element(flow.target) is not None
    assert not [w for w in definition.warnings if "unreachable" in w.message]
    entries = definition.process_tasks()
    assert [e["elementId"] for e in entries] == [t.id for t in definition.tasks]


# --- expectations for particular apps ---


def test_ttd_basic_is_one_data_task_between_start_and_end() -> None:
    definition = app_process("ttd/basic")  # this file starts with a UTF-8 BOM

    assert definition.id == "SingleDataTask"
    assert definition.start_event_ids == ("StartEvent_1",)
    [task] = definition.tasks
    assert task == Task(
        id="Task_1",
        name="Utfylling",
        task_type="data",
        element_type="Task",
        actions=(),
        incoming=("SequenceFlow_1n56yn5",),
        outgoing=("SequenceFlow_1oot28q",),
        line=7,
    )
    assert [f.target for f in definition.outgoing_flows("StartEvent_1")] == ["Task_1"]
    assert [f.target for f in definition.outgoing_flows("Task_1")] == ["EndEvent_1"]
    assert definition.outgoing_flows("EndEvent_1") == ()
    assert isinstance(definition.element("StartEvent_1"), StartEvent)
    assert isinstance(definition.element("EndEvent_1"), EndEvent)
    assert definition.is_end_event("EndEvent_1") and not definition.is_end_event("Task_1")
    assert definition.is_start_event("StartEvent_1") and not definition.is_start_event(None)
    assert not definition.is_service_task("Task_1")
    assert definition.process_tasks() == [
        {"altinnTaskType": "data", "elementId": "Task_1", "elementType": "Task"}
    ]
    assert definition.user_action_types("Task_1") == {"read": "ProcessAction", "write": "ProcessAction"}
    assert definition.warnings == ()


def test_ttd_service_tasks_pdf_then_gateway_looping_back_on_reject_then_eformidling() -> None:
    definition = app_process("ttd/service-tasks")

    assert [(t.id, t.task_type, t.element_type) for t in definition.tasks] == [
        ("Task_1", "data", "Task"),
        ("Task_2", "pdf", "ServiceTask"),
        ("Task_3", "eFormidling", "ServiceTask"),
    ]
    assert [definition.is_service_task(t.id) for t in definition.tasks] == [False, True, True]
    assert [f.target for f in definition.outgoing_flows("Task_1")] == ["Task_2"]
    assert [f.target for f in definition.outgoing_flows("Task_2")] == ["Gateway_1"]

    gateway = definition.element("Gateway_1")
    assert isinstance(gateway, ExclusiveGateway)
    assert gateway.default_flow is None and gateway.connected_data_type_id is None
    back, forward = definition.outgoing_flows("Gateway_1")
    assert (back.id, back.target, back.condition) == (
        "SequenceFlow_gateway1_task1",
        "Task_1",
        ["equals", ["gatewayAction"], "reject"],
    )
    assert back.condition_text == '["equals", ["gatewayAction"], "reject"]'
    assert (forward.target, forward.condition) == ("Task_3", ["notEquals", ["gatewayAction"], "reject"])
    assert [f.target for f in definition.outgoing_flows("Task_3")] == ["EndEvent_1"]

    pdf = definition.tasks[1].pdf_config
    assert pdf is not None and pdf.auto_pdf_task_ids == ("Task_1",)
    eformidling = definition.tasks[2].eformidling_config
    assert eformidling is not None
    assert value_for_environment(eformidling.receiver, "prod") == "123456789"
    assert value_for_environment(eformidling.security_level, None) == "3"
    assert value_for_environment(eformidling.dpf_shipment_type, "tt02") == "digital"
    assert value_for_environment(eformidling.enabled, "tt02") is None
    assert eformidling.data_types_for("tt02") == ("Model", "ref-data-as-pdf")
    assert definition.process_tasks()[1] == {
        "altinnTaskType": "pdf",
        "elementId": "Task_2",
        "elementType": "ServiceTask",
    }


def test_ttd_frontend_test_gateways_with_data_model_and_action_conditions() -> None:
    definition = app_process("ttd/frontend-test")

    gateways = [e for e in definition.elements.values() if isinstance(e, ExclusiveGateway)]
    assert [g.id for g in gateways] == ["Gateway_0", "Gateway_1", "Gateway_2"]
    # connectedDataTypeId sits on tasks in this app, where Altinn never reads it.
    assert all(g.connected_data_type_id is None for g in gateways)

    skip = definition.outgoing_flows("Gateway_0")
    assert [(f.target, f.condition) for f in skip] == [
        (f"Task_{n}", ["equals", ["dataModel", "GwTargetTask"], f"Task_{n}"]) for n in (2, 3, 4, 5)
    ]
    assert [(f.target, f.condition) for f in definition.outgoing_flows("Gateway_1")] == [
        ("Task_Custom_Confirm", ["equals", ["dataModel", "UseCustomConfirm"], True]),
        ("Task_Default_Confirm", ["equals", ["dataModel", "UseCustomConfirm"], False]),
    ]
    assert [(f.target, f.condition) for f in definition.outgoing_flows("Gateway_2")] == [
        ("Task_5", ["equals", ["gatewayAction"], "reject"]),
        ("EndEvent_1", ["equals", ["gatewayAction"], "confirm"]),
    ]
    # Task_5 lists a non-existent <outgoing>; navigation goes by sourceRef.
    assert [f.target for f in definition.outgoing_flows("Task_5")] == ["Gateway_1"]

    custom = definition.task("Task_Custom_Confirm")
    assert custom is not None and custom.has_action("reject") and not custom.has_action("sign")
    assert definition.user_action_types("Task_2") == {
        "read": "ProcessAction",
        "write": "ProcessAction",
        "fill": "ServerAction",
        "conflictingOptionsReset": "ServerAction",
        "shiftingOptionsAdd": "ServerAction",
        "shiftingOptionsRemoveAll": "ServerAction",
    }
    assert [w.element_id for w in definition.warnings] == [
        "Task_1",
        "Task_Custom_Confirm",
        "Task_5",
        "EndEvent_1",
    ]
    assert "gatewayExtension" in definition.warnings[0].message
    assert "'To_Task_6'" in definition.warnings[2].message
    assert "'To_End'" in definition.warnings[3].message
    assert definition.warnings[0].line == 17


def test_tdd_task_action_declares_a_process_action_and_a_server_action() -> None:
    definition = app_process("tdd/task-action")

    task = definition.task("Task_1")
    assert task is not None
    assert task.actions == (TaskAction("complete", "ProcessAction"), TaskAction("lookup", "ServerAction"))
    assert definition.user_action_types("Task_1") == {
        "read": "ProcessAction",
        "write": "ProcessAction",
        "complete": "ProcessAction",
        "lookup": "ServerAction",
    }


def test_tdd_contributer_restriction_actions_survive_a_comment_in_the_list() -> None:
    task = app_process("tdd/contributer-restriction").task("Task_1")

    assert task is not None
    assert [a.id for a in task.actions] == ["reject", "action_defined_in_bpmn_but_unauthorized"]
    assert task.has_action("reject")


def test_ttd_stateless_app_conditions_with_whitespace_and_xsi_type() -> None:
    definition = app_process("ttd/stateless-app")

    end, error = definition.outgoing_flows("Gateway_1")
    assert end.condition == ["notEquals", ["dataModel", "gatewayShouldFail", "task2"], True]
    assert error.condition == ["equals", ["dataModel", "gatewayShouldFail", "task2"], True]
    assert end.condition_text is not None and end.condition_text.startswith("\n")
    assert [f.target for f in definition.outgoing_flows("Task_4")] == ["Task_2"]
    task = definition.task("Task_3")
    assert task is not None and task.task_type == "feedback"


def test_ttd_multiple_datamodels_extension_before_incoming() -> None:
    definition = app_process("ttd/multiple-datamodels-test")

    assert [(t.id, t.incoming, t.outgoing) for t in definition.tasks] == [
        ("Task_1", ("SequenceFlow_1n56yn5",), ("SequenceFlow_1oot28q",)),
        ("Task_2", ("SequenceFlow_1oot28q",), ("Flow_1tvvg2a",)),
    ]
    assert definition.tasks[0].actions == (TaskAction("random", "ServerAction"),)


# --- dialects ---


def test_legacy_tasktype_attribute_with_bpmn2_prefix() -> None:
    document = textwrap.dedent(
        f"""\
        <?xml version="1.0" encoding="UTF-8"?>
        <bpmn2:definitions xmlns:bpmn2="{BPMN_NS}" xmlns:altinn="http://altinn.no" id="D">
          <bpmn2:process id="Process_1" isExecutable="false">
            <bpmn2:startEvent id="StartEvent_1">
              <bpmn2:outgoing>SequenceFlow_1</bpmn2:outgoing>
            </bpmn2:startEvent>
            <bpmn2:task id="Task_1" name="Fyll ut" altinn:tasktype="data">
              <bpmn2:incoming>SequenceFlow_1</bpmn2:incoming>
              <bpmn2:outgoing>SequenceFlow_2</bpmn2:outgoing>
            </bpmn2:task>
            <bpmn2:task id="Task_2" name="Bekreft" altinn:tasktype="confirmation" />
            <bpmn2:endEvent id="EndEvent_1" />
            <bpmn2:sequenceFlow id="SequenceFlow_1" sourceRef="StartEvent_1" targetRef="Task_1" />
            <bpmn2:sequenceFlow id="SequenceFlow_2" sourceRef="Task_1" targetRef="Task_2" />
            <bpmn2:sequenceFlow id="SequenceFlow_3" sourceRef="Task_2" targetRef="EndEvent_1" />
          </bpmn2:process>
        </bpmn2:definitions>
        """
    )
    definition = parse_bpmn(document)

    assert [(t.id, t.name, t.task_type) for t in definition.tasks] == [
        ("Task_1", "Fyll ut", "data"),
        ("Task_2", "Bekreft", "confirmation"),
    ]
    assert [f.target for f in definition.outgoing_flows("Task_1")] == ["Task_2"]
    assert definition.warnings == ()


@pytest.mark.parametrize("prefix", ["bpmn2", "semantic", ""])
def test_elements_are_matched_by_namespace_not_prefix(prefix: str) -> None:
    definition = parse_bpmn(bpmn(LINEAR, prefix=prefix).encode())

    assert [t.task_type for t in definition.tasks] == ["data"]
    assert [f.id for f in definition.outgoing_flows("T1")] == ["F2"]


def test_extension_element_wins_over_legacy_attribute() -> None:
    document = bpmn(LINEAR.replace('<bpmn:task id="T1"', '<bpmn:task id="T1" altinn:tasktype="confirmation"'))

    definition = parse_bpmn(document)

    assert definition.tasks[0].task_type == "data"
    assert "differs" in definition.warnings[0].message


def test_altinn_extension_in_the_legacy_namespace_is_ignored_with_a_warning() -> None:
    definition = parse_bpmn(bpmn(LINEAR, altinn_ns="http://altinn.no"))

    assert definition.tasks[0].task_type is None
    expected_line = line_of(bpmn(LINEAR), "<altinn:taskExtension>")
    assert [(w.element_id, w.line) for w in definition.warnings][:1] == [("T1", expected_line)]
    assert "must be in namespace http://altinn.no/process" in definition.warnings[0].message


def test_user_task_is_read_as_a_task() -> None:
    definition = parse_bpmn(bpmn(LINEAR.replace("bpmn:task", "bpmn:userTask")))

    assert definition.tasks[0].element_type == "Task"
    assert definition.tasks[0].task_type == "data"


def test_bom_in_a_str_document() -> None:
    definition = parse_bpmn("\ufeff" + bpmn(LINEAR))

    assert definition.tasks[0].id == "T1"


# --- Altinn extension configs ---


def test_signing_config() -> None:
    definition = parse_bpmn(
        task_with(
            """
            <altinn:actions>
              <altinn:action>sign</altinn:action>
              <altinn:action>reject</altinn:action>
            </altinn:actions>
            <altinn:signatureConfig>
              <altinn:dataTypesToSign>
                <altinn:dataType>model</altinn:dataType>
                <altinn:dataType>attachment</altinn:dataType>
              </altinn:dataTypesToSign>
              <altinn:signatureDataType>signatures</altinn:signatureDataType>
              <altinn:uniqueFromSignaturesInDataTypes>
                <altinn:dataType>signatures-first</altinn:dataType>
              </altinn:uniqueFromSignaturesInDataTypes>
              <altinn:signeeProviderId>board</altinn:signeeProviderId>
              <altinn:signeeStatesDataTypeId>signee-states</altinn:signeeStatesDataTypeId>
              <altinn:signingPdfDataType>signing-pdf</altinn:signingPdfDataType>
              <altinn:correspondenceResource>receipt-resource</altinn:correspondenceResource>
              <altinn:correspondenceResource env="prod">prod-receipt-resource</altinn:correspondenceResource>
              <altinn:runDefaultValidator> true </altinn:runDefaultValidator>
              <altinn:somethingNew level="2">kept</altinn:somethingNew>
            </altinn:signatureConfig>
            """,
            task_type="signing",
        )
    )

    task = definition.tasks[0]
    config = task.signature_config
    assert config is not None
    assert config.data_types_to_sign == ("model", "attachment")
    assert config.signature_data_type == "signatures"
    assert config.unique_from_signatures_in_data_types == ("signatures-first",)
    assert config.signee_provider_id == "board"
    assert config.signee_states_data_type_id == "signee-states"
    assert config.signing_pdf_data_type == "signing-pdf"
    assert config.correspondence_resources == (
        EnvironmentValue("receipt-resource"),
        EnvironmentValue("prod-receipt-resource", "prod"),
    )
    assert value_for_environment(config.correspondence_resources, "PROD") == "prod-receipt-resource"
    assert value_for_environment(config.correspondence_resources, "tt02") == "receipt-resource"
    assert config.run_default_validator is True
    [extra] = config.extra
    assert (extra.name, extra.text, extra.attribute("level"), extra.attribute("x")) == (
        "somethingNew",
        "kept",
        "2",
        None,
    )
    assert [a.id for a in task.actions] == ["sign", "reject"]
    assert task.payment_config is None and task.pdf_config is None and task.eformidling_config is None


def test_payment_config() -> None:
    definition = parse_bpmn(
        task_with(
            """
            <altinn:actions><altinn:action>pay</altinn:action></altinn:actions>
            <altinn:paymentConfig>
              <altinn:paymentDataType>paymentInformation</altinn:paymentDataType>
              <altinn:paymentReceiptPdfDataType>paymentReceiptPdf</altinn:paymentReceiptPdfDataType>
            </altinn:paymentConfig>
            """,
            task_type="payment",
        )
    )

    config = definition.tasks[0].payment_config
    assert config is not None
    assert (config.payment_data_type, config.payment_receipt_pdf_data_type, config.payment_processor_id) == (
        "paymentInformation",
        "paymentReceiptPdf",
        None,
    )


def test_pdf_config_current_and_older_element_names() -> None:
    current = parse_bpmn(
        task_with(
            """
            <altinn:pdfConfig>
              <altinn:filenameTextResourceKey>pdf.filename</altinn:filenameTextResourceKey>
              <altinn:autoPdfTaskIds><altinn:taskId>T0</altinn:taskId><altinn:taskId>T1</altinn:taskId></altinn:autoPdfTaskIds>
            </altinn:pdfConfig>
            """,
            element="serviceTask",
            task_type="pdf",
        )
    ).tasks[0]
    older = parse_bpmn(
        task_with(
            "<altinn:pdfConfig><altinn:filename>key</altinn:filename>"
            "<altinn:dataTypeId>receipt</altinn:dataTypeId></altinn:pdfConfig>",
            element="serviceTask",
            task_type="pdf",
        )
    ).tasks[0]

    assert current.pdf_config is not None and older.pdf_config is not None
    assert current.pdf_config.filename_text_resource_key == "pdf.filename"
    assert current.pdf_config.auto_pdf_task_ids == ("T0", "T1")
    assert (older.pdf_config.filename_text_resource_key, older.pdf_config.data_type_id) == ("key", "receipt")
    assert current.is_service_task


def test_subform_pdf_config_accepts_altinns_misspelt_data_type_element() -> None:
    task = parse_bpmn(
        task_with(
            """
            <altinn:subformPdfConfig>
              <altinn:filenameTextResourceKey>sub.name</altinn:filenameTextResourceKey>
              <altinn:subformComponentId>subform-1</altinn:subformComponentId>
              <altinn:subformDatatTypeId>moped</altinn:subformDatatTypeId>
              <altinn:parallelExecution>1</altinn:parallelExecution>
            </altinn:subformPdfConfig>
            """,
            element="serviceTask",
            task_type="subformPdf",
        )
    ).tasks[0]

    config = task.subform_pdf_config
    assert config is not None
    assert (config.filename_text_resource_key, config.subform_component_id, config.subform_data_type_id) == (
        "sub.name",
        "subform-1",
        "moped",
    )
    assert config.parallel_execution is True


def test_eformidling_config_per_environment() -> None:
    task = parse_bpmn(
        task_with(
            """
            <altinn:eFormidlingConfig>
              <altinn:enabled env="local">false</altinn:enabled>
              <altinn:receiver>910075918</altinn:receiver>
              <altinn:receiver env="tt02">991825827</altinn:receiver>
              <altinn:process>urn:no:difi:profile:arkivmelding:administrasjon:ver1.0</altinn:process>
              <altinn:dataTypes><altinn:dataType>model</altinn:dataType></altinn:dataTypes>
              <altinn:dataTypes env="tt02">
                <altinn:dataType>model</altinn:dataType>
                <altinn:dataType>ref-data-as-pdf</altinn:dataType>
              </altinn:dataTypes>
            </altinn:eFormidlingConfig>
            """,
            element="serviceTask",
            task_type="eFormidling",
        )
    ).tasks[0]

    config = task.eformidling_config
    assert config is not None
    assert value_for_environment(config.receiver, "tt02") == "991825827"
    assert value_for_environment(config.receiver, "prod") == "910075918"
    assert value_for_environment(config.enabled, "local") == "false"
    assert value_for_environment(config.enabled, "prod") is None
    assert config.data_types == (
        EnvironmentDataTypes(("model",)),
        EnvironmentDataTypes(("model", "ref-data-as-pdf"), "tt02"),
    )
    assert config.data_types_for("tt02") == ("model", "ref-data-as-pdf")
    assert config.data_types_for("prod") == ("model",)
    assert config.data_types_for(None) == ("model",)


def test_unknown_task_extension_children_are_kept() -> None:
    task = parse_bpmn(
        task_with(
            "<altinn:fiksArkivConfig><altinn:receiver>x</altinn:receiver></altinn:fiksArkivConfig>",
            element="serviceTask",
            task_type="fiksArkiv",
        )
    ).tasks[0]

    [node] = task.extensions
    assert (node.namespace, node.name, node.text) == ("http://altinn.no/process", "fiksArkivConfig", None)
    assert [(c.name, c.text) for c in node.children] == [("receiver", "x")]


def test_gateway_connected_data_type_and_default_flow() -> None:
    definition = parse_bpmn(
        gateway_process(
            """
            <bpmn:exclusiveGateway id="G" default="F4">
              <bpmn:extensionElements>
                <altinn:gatewayExtension><altinn:connectedDataTypeId>model</altinn:connectedDataTypeId></altinn:gatewayExtension>
              </bpmn:extensionElements>
              <bpmn:outgoing>F3</bpmn:outgoing>
              <bpmn:outgoing>F4</bpmn:outgoing>
            </bpmn:exclusiveGateway>
            """,
            """
            <bpmn:sequenceFlow id="F3" sourceRef="G" targetRef="End">
              <bpmn:conditionExpression>["dataModel", "skip"]</bpmn:conditionExpression>
            </bpmn:sequenceFlow>
            <bpmn:sequenceFlow id="F4" sourceRef="G" targetRef="T2" />
            """,
        )
    )

    gateway = definition.element("G")
    assert isinstance(gateway, ExclusiveGateway)
    assert (gateway.default_flow, gateway.connected_data_type_id, gateway.outgoing) == (
        "F4",
        "model",
        ("F3", "F4"),
    )
    flows = definition.outgoing_flows("G")
    assert [(f.id, f.has_condition) for f in flows] == [("F3", True), ("F4", False)]
    assert flows[1].condition is None and flows[1].condition_text is None
    assert definition.warnings == ()


def test_gateway_follows_its_outgoing_children_not_source_refs() -> None:
    definition = parse_bpmn(
        gateway_process(
            '<bpmn:exclusiveGateway id="G"><bpmn:outgoing>F4</bpmn:outgoing></bpmn:exclusiveGateway>',
            """
            <bpmn:sequenceFlow id="F3" sourceRef="G" targetRef="End" />
            <bpmn:sequenceFlow id="F4" sourceRef="G" targetRef="T2" />
            """,
        )
    )

    assert [f.id for f in definition.outgoing_flows("G")] == ["F4"]
    assert warning_messages(definition) == [
        (
            "G",
            "sequence flow 'F3' leaves the gateway but is not listed in its <bpmn:outgoing>; "
            "Altinn never follows it",
        )
    ]


# --- task-type facts ---


@pytest.mark.parametrize(
    ("task_type", "action", "authorising"),
    [
        ("data", "write", ("write",)),
        ("feedback", "write", ("write",)),
        ("confirmation", "confirm", ("confirm",)),
        ("signing", "sign", ("sign", "write")),
        ("payment", "payment", ("pay", "write")),
        ("pdf", "write", ("write",)),
        ("eFormidling", "write", ("write",)),
        ("fiksArkiv", "write", ("write",)),
        ("subformPdf", "subformPdf", ("write",)),
        ("myCustomTask", "myCustomTask", ("myCustomTask",)),
        (None, None, ()),
    ],
)
def test_default_and_authorising_actions(
    task_type: str | None, action: str | None, authorising: tuple[str, ...]
) -> None:
    assert default_action(task_type) == action
    assert authorising_actions(task_type) == authorising


@pytest.mark.parametrize(
    ("task_type", "element_type", "expected"),
    [
        ("pdf", "ServiceTask", True),
        ("pdf", "Task", True),
        ("subformPdf", "ServiceTask", True),
        ("custom-service", "ServiceTask", True),
        ("custom-service", "Task", False),
        ("data", "ServiceTask", False),
        ("signing", "Task", False),
        (None, "ServiceTask", False),
    ],
)
def test_is_service_task_type(task_type: str | None, element_type: str, expected: bool) -> None:
    assert is_service_task_type(task_type, element_type) is expected


# --- navigation helpers ---


def test_navigation_helpers_reject_unknown_elements() -> None:
    definition = parse_bpmn(bpmn(LINEAR))

    assert definition.element("Nope") is None
    assert definition.task("Start") is None
    assert not definition.is_service_task("Nope")
    with pytest.raises(KeyError, match="no process element 'Nope'"):
        definition.outgoing_flows("Nope")
    with pytest.raises(KeyError, match="no task 'Start'"):
        definition.user_action_types("Start")


def test_process_tasks_lists_tasks_before_service_tasks_like_altinn() -> None:
    definition = parse_bpmn(
        bpmn(
            """
            <bpmn:startEvent id="Start" />
            <bpmn:serviceTask id="S1" altinn:tasktype="pdf" />
            <bpmn:task id="T1" altinn:tasktype="data" />
            <bpmn:endEvent id="End" />
            <bpmn:sequenceFlow id="F1" sourceRef="Start" targetRef="S1" />
            <bpmn:sequenceFlow id="F2" sourceRef="S1" targetRef="T1" />
            <bpmn:sequenceFlow id="F3" sourceRef="T1" targetRef="End" />
            """
        )
    )

    assert [t.id for t in definition.tasks] == ["S1", "T1"]
    assert [e["elementId"] for e in definition.process_tasks()] == ["T1", "S1"]


def test_model_is_immutable() -> None:
    definition = parse_bpmn(bpmn(LINEAR))

    with pytest.raises(dataclasses.FrozenInstanceError):
        definition.tasks[0].task_type = "signing"  # type: ignore[misc]
    with pytest.raises(TypeError):
        definition.elements["X"] = definition.tasks[0]  # type: ignore[index]


# --- validation: errors ---


def assert_bpmn_error(
    document: str | bytes, message: str, *, element_id: str | None, line: int | None
) -> BpmnError:
    with pytest.raises(BpmnError) as caught:
        parse_bpmn(document, source="config/process/process.bpmn")
    error = caught.value
    assert message in error.message
    assert (error.element_id, error.line, error.source) == (element_id, line, "config/process/process.bpmn")
    assert str(error).startswith("config/process/process.bpmn")
    if line is not None:
        assert f"line {line}" in str(error)
    if element_id is not None:
        assert f"element '{element_id}'" in str(error)
    return error


def test_error_not_well_formed_xml_names_line_and_column() -> None:
    document = bpmn(LINEAR).replace("</bpmn:task>", "</bpmn:tsk>")

    error = assert_bpmn_error(
        document, "not well-formed XML", element_id=None, line=line_of(document, "</bpmn:tsk>")
    )
    assert error.column is not None


def test_error_dtd_is_refused() -> None:
    document = '<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY a "b">]>\n' + bpmn(LINEAR).split("\n", 1)[1]

    assert_bpmn_error(document, "DTD", element_id=None, line=None)


def test_error_not_bpmn() -> None:
    assert_bpmn_error(
        '<?xml version="1.0"?>\n<definitions id="x"><process id="p" /></definitions>',
        "not a BPMN process definition: the root element is <definitions>",
        element_id=None,
        line=2,
    )


def test_error_no_process() -> None:
    document = f'<definitions xmlns="{BPMN_NS}">\n  <collaboration id="c" />\n</definitions>'

    assert_bpmn_error(document, "contain no <bpmn:process>", element_id=None, line=1)


def test_error_two_processes() -> None:
    document = bpmn(LINEAR).replace("</bpmn:definitions>", '<bpmn:process id="Other" />\n</bpmn:definitions>')

    assert_bpmn_error(
        document, "2 <bpmn:process> elements", element_id="Other", line=line_of(document, 'id="Other"')
    )


def test_error_no_start_event() -> None:
    document = bpmn(
        """
        <bpmn:task id="T1" altinn:tasktype="data" />
        <bpmn:endEvent id="End" />
        <bpmn:sequenceFlow id="F1" sourceRef="T1" targetRef="End" />
        """
    )

    assert_bpmn_error(
        document, "no <bpmn:startEvent>", element_id="P", line=line_of(document, "<bpmn:process")
    )


def test_error_no_end_event() -> None:
    document = bpmn(
        """
        <bpmn:startEvent id="Start" />
        <bpmn:task id="T1" altinn:tasktype="data" />
        <bpmn:sequenceFlow id="F1" sourceRef="Start" targetRef="T1" />
        """
    )

    assert_bpmn_error(document, "no <bpmn:endEvent>", element_id="P", line=line_of(document, "<bpmn:process"))


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            'targetRef="End"',
            'targetRef="Ending"',
            "targetRef names 'Ending', which is not an element of this process",
        ),
        ('sourceRef="T1"', 'sourceRef="F1"', "sourceRef names 'F1', which is a sequence flow"),
        ('sourceRef="T1" ', "", "the sequence flow has no sourceRef"),
    ],
)
def test_error_flow_references(old: str, new: str, message: str) -> None:
    document = bpmn(LINEAR).replace(old, new)

    assert_bpmn_error(document, message, element_id="F2", line=line_of(document, 'id="F2"'))


def test_error_flow_into_an_unsupported_element() -> None:
    document = bpmn(
        """
        <bpmn:startEvent id="Start" />
        <bpmn:parallelGateway id="Fork" />
        <bpmn:endEvent id="End" />
        <bpmn:sequenceFlow id="F1" sourceRef="Start" targetRef="Fork" />
        <bpmn:sequenceFlow id="F2" sourceRef="Fork" targetRef="End" />
        """
    )

    assert_bpmn_error(
        document,
        "targetRef names <bpmn:parallelGateway> 'Fork', which Altinn's process engine does not support",
        element_id="F1",
        line=line_of(document, 'id="F1"'),
    )


def test_error_gateway_default_is_not_an_outgoing_flow() -> None:
    document = gateway_process(
        """
        <bpmn:exclusiveGateway id="G" default="F2">
          <bpmn:outgoing>F3</bpmn:outgoing>
          <bpmn:outgoing>F4</bpmn:outgoing>
        </bpmn:exclusiveGateway>
        """,
        """
        <bpmn:sequenceFlow id="F3" sourceRef="G" targetRef="End" />
        <bpmn:sequenceFlow id="F4" sourceRef="G" targetRef="T2" />
        """,
    )

    assert_bpmn_error(
        document,
        "default flow 'F2' is not one of its outgoing flows (outgoing: F3, F4)",
        element_id="G",
        line=line_of(document, 'id="G"'),
    )


def test_error_gateway_default_names_no_flow() -> None:
    document = gateway_process(
        '<bpmn:exclusiveGateway id="G" default="Nope"><bpmn:outgoing>F3</bpmn:outgoing>'
        "</bpmn:exclusiveGateway>",
        '<bpmn:sequenceFlow id="F3" sourceRef="G" targetRef="T2" />',
    )

    assert_bpmn_error(
        document,
        "'Nope' is not a sequence flow of this process",
        element_id="G",
        line=line_of(document, 'id="G"'),
    )


@pytest.mark.parametrize(
    ("condition", "message", "lines_into_condition"),
    [
        ('["equals", ["gatewayAction"], "reject"', "is not valid JSON: Expecting ',' delimiter", 0),
        ('\n["equals",\n  ["gatewayAction"] "reject"]', "(expression line 3, column 21)", 2),
        ('["equals", NaN, 1]', "NaN is not a JSON value", 0),
        ("   ", "<bpmn:conditionExpression> is empty", 0),
    ],
)
def test_error_condition_is_not_json(condition: str, message: str, lines_into_condition: int) -> None:
    document = gateway_process(
        '<bpmn:exclusiveGateway id="G"><bpmn:outgoing>F3</bpmn:outgoing></bpmn:exclusiveGateway>',
        f"""<bpmn:sequenceFlow id="F3" sourceRef="G" targetRef="T2">
        <bpmn:conditionExpression>{condition}</bpmn:conditionExpression>
        </bpmn:sequenceFlow>""",
    )

    line = line_of(document, "<bpmn:conditionExpression>") + lines_into_condition
    assert_bpmn_error(document, message, element_id="F3", line=line)


def test_error_duplicate_ids() -> None:
    document = bpmn(LINEAR.replace('<bpmn:endEvent id="End"', '<bpmn:endEvent id="T1"'))

    first, second = line_of(document, 'id="T1"'), line_of(document, 'id="T1"', 2)
    assert_bpmn_error(
        document, f"duplicate id 'T1' (first used on line {first})", element_id="T1", line=second
    )


def test_error_element_without_id() -> None:
    document = bpmn(LINEAR.replace('<bpmn:endEvent id="End">', "<bpmn:endEvent>"))

    assert_bpmn_error(
        document, "<bpmn:endEvent> has no id", element_id=None, line=line_of(document, "<bpmn:endEvent>")
    )


def test_error_unknown_action_type() -> None:
    document = task_with(
        '<altinn:actions><altinn:action type="clientAction">x</altinn:action></altinn:actions>'
    )

    assert_bpmn_error(
        document,
        "action 'x' has type 'clientAction'; expected processAction or serverAction",
        element_id="T1",
        line=line_of(document, "clientAction"),
    )


def test_error_boolean_setting_that_is_not_a_boolean() -> None:
    document = task_with(
        "<altinn:signatureConfig><altinn:runDefaultValidator>yes</altinn:runDefaultValidator></altinn:signatureConfig>",
        task_type="signing",
    )

    assert_bpmn_error(
        document,
        "<altinn:runDefaultValidator> must be true or false, not 'yes'",
        element_id="T1",
        line=line_of(document, "runDefaultValidator"),
    )


def test_error_setting_with_element_content() -> None:
    document = task_with("", task_type="<altinn:x>data</altinn:x>")

    assert_bpmn_error(
        document,
        "<altinn:taskType> must contain only text",
        element_id="T1",
        line=line_of(document, "<altinn:taskType>"),
    )


# --- validation: warnings ---


def test_task_without_task_type_loads_with_a_warning() -> None:
    document = bpmn(LINEAR.replace("<altinn:taskType>data</altinn:taskType>", ""))
    definition = parse_bpmn(document)

    task = definition.tasks[0]
    assert task.task_type is None
    assert definition.process_tasks() == [{"altinnTaskType": None, "elementId": "T1", "elementType": "Task"}]
    assert warning_messages(definition) == [
        (
            "T1",
            'the task has no altinn task type; Altinn answers 409 "Instance does not have current altinn '
            'task type information!" when the process reaches it',
        )
    ]
    assert definition.warnings[0].line == line_of(document, 'id="T1"')


def test_unreachable_and_dead_end_elements_are_warnings() -> None:
    document = bpmn(
        LINEAR
        + """
        <bpmn:task id="Orphan" altinn:tasktype="data" />
        <bpmn:exclusiveGateway id="Dangling" />
        <bpmn:sequenceFlow id="F9" sourceRef="Orphan" targetRef="Dangling" />
        """
    )
    definition = parse_bpmn(document)

    assert warning_messages(definition) == [
        ("Orphan", "unreachable from every start event"),
        ("Dangling", "unreachable from every start event"),
        ("Dangling", "no outgoing sequence flow: the process cannot move on from here"),
    ]
    line = line_of(document, 'id="Orphan"')
    assert str(definition.warnings[0]) == (
        f"process.bpmn, line {line}, element 'Orphan': unreachable from every start event"
    )


def test_condition_outside_a_gateway_is_a_warning() -> None:
    definition = parse_bpmn(
        bpmn(
            LINEAR.replace(
                '<bpmn:sequenceFlow id="F2" sourceRef="T1" targetRef="End" />',
                '<bpmn:sequenceFlow id="F2" sourceRef="T1" targetRef="End">'
                "<bpmn:conditionExpression>true</bpmn:conditionExpression></bpmn:sequenceFlow>",
            )
        )
    )

    assert definition.flows["F2"].condition is True
    assert warning_messages(definition) == [
        ("F2", "the condition is ignored: Altinn evaluates conditions only on flows leaving a gateway")
    ]


def test_action_quirks_are_warnings() -> None:
    definition = parse_bpmn(
        task_with(
            """
            <altinn:actions>
              <altinn:action>write</altinn:action>
              <altinn:action id="submit" />
              <altinn:action altinn:type="serverAction">lookup</altinn:action>
              <altinn:action>lookup</altinn:action>
            </altinn:actions>
            """
        )
    )

    assert definition.tasks[0].actions == (TaskAction("write"), TaskAction("lookup", "ServerAction"))
    assert definition.user_action_types("T1") == {
        "read": "ProcessAction",
        "write": "ProcessAction",
        "lookup": "ServerAction",
    }
    assert [m for _, m in warning_messages(definition)] == [
        "action 'write' need not be declared; every task has read and write",
        "an <altinn:action> without text is ignored (the action name is the element's text)",
        "action 'lookup' is declared more than once",
    ]


def test_unsupported_element_nobody_flows_into_is_a_warning() -> None:
    definition = parse_bpmn(bpmn(LINEAR + '<bpmn:intermediateThrowEvent id="Note" />'))

    assert warning_messages(definition)[-1] == (
        "Note",
        "<bpmn:intermediateThrowEvent> is not supported by Altinn's process engine and is ignored",
    )


GATEWAY_OUT = '<bpmn:exclusiveGateway id="G"><bpmn:outgoing>F3</bpmn:outgoing></bpmn:exclusiveGateway>'
TO_T2 = '<bpmn:sequenceFlow id="F3" sourceRef="G" targetRef="T2" />'


@pytest.mark.parametrize(
    ("document", "element_id", "message"),
    [
        pytest.param(
            task_with(
                "</altinn:taskExtension><altinn:taskExtension><altinn:taskType>signing</altinn:taskType>"
            ),
            "T1",
            "more than one <altinn:taskExtension>; the last one is used",
            id="two-task-extensions",
        ),
        pytest.param(
            task_with(
                "<altinn:paymentConfig><altinn:paymentDataType>a</altinn:paymentDataType>"
                "<altinn:paymentDataType>b</altinn:paymentDataType></altinn:paymentConfig>",
                task_type="payment",
            ),
            "T1",
            "<altinn:paymentDataType> appears more than once in <altinn:paymentConfig>; the last one is used",
            id="repeated-setting",
        ),
        pytest.param(
            task_with(
                "<altinn:signatureConfig><altinn:dataTypesToSign><altinn:type>x</altinn:type>"
                "</altinn:dataTypesToSign></altinn:signatureConfig>",
                task_type="signing",
            ),
            "T1",
            "<altinn:type> in <altinn:dataTypesToSign> is ignored; expected <altinn:dataType>",
            id="unexpected-list-item",
        ),
        pytest.param(
            task_with("<altinn:actions><altinn:permission>x</altinn:permission></altinn:actions>"),
            "T1",
            "<altinn:permission> in <altinn:actions> is ignored; expected <altinn:action>",
            id="unexpected-action-item",
        ),
        pytest.param(
            gateway_process(
                '<bpmn:exclusiveGateway id="G"><bpmn:extensionElements><altinn:taskExtension>'
                "<altinn:taskType>data</altinn:taskType></altinn:taskExtension></bpmn:extensionElements>"
                "<bpmn:outgoing>F3</bpmn:outgoing></bpmn:exclusiveGateway>",
                TO_T2,
            ),
            "G",
            "<altinn:taskExtension> on a gateway is ignored",
            id="task-extension-on-gateway",
        ),
        pytest.param(
            gateway_process(
                '<bpmn:exclusiveGateway id="G"><bpmn:outgoing>F3</bpmn:outgoing>'
                "<bpmn:outgoing>F9</bpmn:outgoing></bpmn:exclusiveGateway>",
                TO_T2,
            ),
            "G",
            "<bpmn:outgoing> names 'F9', which is not a sequence flow of this process",
            id="gateway-outgoing-unknown-flow",
        ),
        pytest.param(
            gateway_process(
                '<bpmn:exclusiveGateway id="G"><bpmn:outgoing>F3</bpmn:outgoing>'
                "<bpmn:outgoing>F5</bpmn:outgoing></bpmn:exclusiveGateway>",
                TO_T2,
            ),
            "G",
            "<bpmn:outgoing> names 'F5', whose sourceRef is 'T2'; Altinn follows it from this gateway anyway",
            id="gateway-outgoing-foreign-flow",
        ),
        pytest.param(
            bpmn(LINEAR + '<bpmn:sequenceFlow id="F3" sourceRef="End" targetRef="T1" />'),
            "End",
            "flows leaving an end event are never followed",
            id="flow-out-of-end-event",
        ),
    ],
)
def test_warnings(document: str, element_id: str, message: str) -> None:
    definition = parse_bpmn(document)

    assert (element_id, message) in warning_messages(definition)


def test_several_start_events_are_allowed() -> None:
    definition = parse_bpmn(
        bpmn(
            LINEAR
            + '<bpmn:startEvent id="Start2" /><bpmn:sequenceFlow id="F0" sourceRef="Start2" targetRef="T1" />'
        )
    )

    assert definition.start_event_ids == ("Start", "Start2")
    assert definition.warnings == ()


@pytest.mark.parametrize(
    ("flows", "needle", "message"),
    [
        pytest.param(
            '<bpmn:sequenceFlow id="F3" sourceRef="G" targetRef="T2">'
            "<bpmn:conditionExpression>true</bpmn:conditionExpression>"
            "<bpmn:conditionExpression>false</bpmn:conditionExpression></bpmn:sequenceFlow>",
            "<bpmn:conditionExpression>false",
            "more than one <bpmn:conditionExpression>",
            id="two-conditions",
        ),
        pytest.param(
            '<bpmn:sequenceFlow id="F3" sourceRef="G" targetRef="T2">'
            "<bpmn:conditionExpression><x>true</x></bpmn:conditionExpression></bpmn:sequenceFlow>",
            "<bpmn:conditionExpression>",
            "<bpmn:conditionExpression> must contain only text",
            id="condition-with-markup",
        ),
    ],
)
def test_error_malformed_conditions(flows: str, needle: str, message: str) -> None:
    document = gateway_process(GATEWAY_OUT, flows)

    assert_bpmn_error(document, message, element_id="F3", line=line_of(document, needle))


def test_error_empty_flow_reference() -> None:
    document = bpmn(LINEAR.replace("<bpmn:incoming>F1</bpmn:incoming>", "<bpmn:incoming> </bpmn:incoming>"))

    assert_bpmn_error(
        document,
        "<bpmn:incoming> names no sequence flow",
        element_id="T1",
        line=line_of(document, "<bpmn:incoming> </bpmn:incoming>"),
    )


def test_error_eformidling_enabled_not_a_boolean() -> None:
    document = task_with(
        "<altinn:eFormidlingConfig><altinn:enabled>sometimes</altinn:enabled></altinn:eFormidlingConfig>",
        element="serviceTask",
        task_type="eFormidling",
    )

    assert_bpmn_error(
        document,
        "<altinn:enabled> must be true or false, not 'sometimes'",
        element_id="T1",
        line=line_of(document, "<altinn:eFormidlingConfig>"),
    )
