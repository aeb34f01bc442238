"""Writing app folders for tests: a small valid app, changed file by file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

BPMN = """<?xml version="1.0" encoding="utf-8"?>
<bpmn:definitions
    xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:altinn="http://altinn.no/process"
    id="d">
  <bpmn:process id="p" isExecutable="false">
    <bpmn:startEvent id="StartEvent_1">
      <bpmn:outgoing>f1</bpmn:outgoing>
    </bpmn:startEvent>
    <bpmn:task id="Task_1">
      <bpmn:extensionElements>
        <altinn:taskExtension>
          <altinn:taskType>data</altinn:taskType>
        </altinn:taskExtension>
      </bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:task>
    <bpmn:endEvent id="EndEvent_1">
      <bpmn:incoming>f2</bpmn:incoming>
    </bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="StartEvent_1" targetRef="Task_1" />
    <bpmn:sequenceFlow id="f2" sourceRef="Task_1" targetRef="EndEvent_1" />
  </bpmn:process>
</bpmn:definitions>
"""

POLICY = """<?xml version="1.0" encoding="utf-8"?>
<xacml:Policy
    xmlns:xacml="urn:oasis:names:tc:xacml:3.0:core:schema:wd-17"
    PolicyId="urn:altinn:resource:app_[ORG]_[APP]:policyid:1"
    Version="1.0"
    RuleCombiningAlgId="urn:oasis:names:tc:xacml:3.0:rule-combining-algorithm:deny-overrides">
  <xacml:Target />
  <xacml:Rule RuleId="r1" Effect="Permit">
    <xacml:Target>
      <xacml:AnyOf>
        <xacml:AllOf>
          <xacml:Match MatchId="urn:oasis:names:tc:xacml:3.0:function:string-equal-ignore-case">
            <xacml:AttributeValue
                DataType="http://www.w3.org/2001/XMLSchema#string">[org]</xacml:AttributeValue>
            <xacml:AttributeDesignator
                AttributeId="urn:altinn:org"
                Category="urn:oasis:names:tc:xacml:1.0:subject-category:access-subject"
                DataType="http://www.w3.org/2001/XMLSchema#string"
                MustBePresent="false" />
          </xacml:Match>
        </xacml:AllOf>
      </xacml:AnyOf>
      <xacml:AnyOf>
        <xacml:AllOf>
          <xacml:Match MatchId="urn:oasis:names:tc:xacml:1.0:function:string-equal">
            <xacml:AttributeValue
                DataType="http://www.w3.org/2001/XMLSchema#string">[APP]</xacml:AttributeValue>
            <xacml:AttributeDesignator
                AttributeId="urn:altinn:app"
                Category="urn:oasis:names:tc:xacml:3.0:attribute-category:resource"
                DataType="http://www.w3.org/2001/XMLSchema#string"
                MustBePresent="false" />
          </xacml:Match>
        </xacml:AllOf>
      </xacml:AnyOf>
      <xacml:AnyOf>
        <xacml:AllOf>
          <xacml:Match MatchId="urn:oasis:names:tc:xacml:3.0:function:string-equal-ignore-case">
            <xacml:AttributeValue
                DataType="http://www.w3.org/2001/XMLSchema#string">read</xacml:AttributeValue>
            <xacml:AttributeDesignator
                AttributeId="urn:oasis:names:tc:xacml:1.0:action:action-id"
                Category="urn:oasis:names:tc:xacml:3.0:attribute-category:action"
                DataType="http://www.w3.org/2001/XMLSchema#string"
                MustBePresent="false" />
          </xacml:Match>
        </xacml:AllOf>
      </xacml:AnyOf>
    </xacml:Target>
  </xacml:Rule>
</xacml:Policy>
"""


def metadata(org: str, app: str, **overrides: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": f"{org}/{app}",
        "org": org,
        "title": {"nb": f"Testapp {app}"},
        "dataTypes": [
            {"id": "ref-data-as-pdf", "allowedContentTypes": ["application/pdf"]},
            {"id": "vedlegg", "taskId": "Task_1", "maxCount": 3},
        ],
    }
    document.update(overrides)
    return document


def texts(language: str, **values: str) -> str:
    resources = [{"id": key, "value": value} for key, value in ({"appName": "Test"} | values).items()]
    return json.dumps({"language": language, "resources": resources}, ensure_ascii=False, indent=2)


def write_app(
    root: Path,
    org: str,
    app: str,
    files: dict[str, str | bytes | None] | None = None,
    *,
    nested: bool = False,
) -> Path:
    """A valid app folder ``root/org/app`` (or ``.../App`` with ``nested``); ``files`` replaces
    (or, with None, removes) files by their path inside the app folder."""
    folder = root / org / app / ("App" if nested else "")
    content: dict[str, str | bytes | None] = {
        "config/applicationmetadata.json": json.dumps(metadata(org, app), indent=2),
        "config/process/process.bpmn": BPMN,
        "config/authorization/policy.xml": POLICY,
        "config/texts/resource.nb.json": texts("nb"),
    }
    content.update(files or {})
    for relative, data in content.items():
        if data is None:
            continue
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data, encoding="utf-8")
    return folder
