"""The replay harness: every recording of ``basic-app-snapshots``, replayed and compared.

:func:`replay_all` runs each recorded flow once against a live server and compares every
recording of it (:mod:`tests.conformance.compare`), then applies the expected-difference table
(:mod:`tests.conformance.expected`). ``python -m tests.conformance.report`` prints the outcome.
"""

from __future__ import annotations

import io
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from pypdf import PdfReader

from tests.conformance.compare import Bindings, Difference, compare_response, compare_value
from tests.conformance.expected import EXPECTED, Expected, expected_for, not_replayed
from tests.conformance.replay import AUTH_KINDS, Flow, run_authentication, run_full, run_upload
from tests.conformance.verify import RecordingName, all_recordings, load_recording, recording_name
from tests.conftest import SHARED_APPS

# Localtest's public names for the app and the platform; the server under test is configured with
# them (settings ``apps_public_url``/``platform_public_url``) so self links and ``Location`` compare
# as written, with only the port scrubbed.
LOCALTEST_APPS_URL = "https://local.altinn.cloud:8000"
LOCALTEST_PLATFORM_URL = "https://platform.local.altinn.cloud"


# The recorded app is ttd/basic plus the C# code of Altinn's integration-test app, of which the
# recordings show two validators (by their sources in PATCH responses) that find nothing for this
# data. The harness replays against a copy of the app folder with those two as Python app logic.
RECORDED_APP_LOGIC = """
def register(logic):
    @logic.validator("TestApp.Shared.Validator", task_id="Task_1", incremental=True)
    async def task_validator(ctx, read):
        return []

    @logic.validator("TestApp.Shared.FormDataValidator", incremental=True)
    async def form_data_validator(ctx, read):
        return []
"""


def write_recorded_app(root: Path) -> Path:
    """``root/ttd/basic``: the shared app folder plus :data:`RECORDED_APP_LOGIC`; returns ``root``."""
    folder = root / "ttd" / "basic"
    shutil.copytree(SHARED_APPS / "ttd" / "basic", folder)
    (folder / "logic").mkdir()
    (folder / "logic" / "__init__.py").write_text(RECORDED_APP_LOGIC, encoding="utf-8")
    return root


@dataclass
class Outcome:
    """One recording's result: the differences found and which of them the table expects."""

    recording: RecordingName
    differences: list[Difference] = field(default_factory=list)
    expected: list[tuple[Difference, Expected]] = field(default_factory=list)
    not_replayed: str | None = None

    @property
    def unexpected(self) -> list[Difference]:
        accounted = {id(d) for d, _ in self.expected}
        return [d for d in self.differences if id(d) not in accounted]

    @property
    def matches(self) -> bool:
        return self.not_replayed is None and not self.differences

    @property
    def accepted(self) -> bool:
        return self.not_replayed is None and not self.unexpected


def _seed(bindings: Bindings, instance: dict[str, Any] | None) -> None:
    """Bind the fixture's id placeholders to our instance, as its scrubber did for Altinn's."""
    if instance is None:
        return
    bindings.bind("<instanceGuid>", instance["id"].split("/")[1])
    for index, element in enumerate(instance.get("data") or []):
        bindings.bind(f"<dataElementId[{index}]>", element["id"])


def _fixture_view(name: RecordingName) -> Callable[[httpx.Response], httpx.Response]:
    """What the recording fixture could not or did not record, left out of ours too.

    * The fixture reads instance responses into Storage's ``Instance`` model, which has no
      ``instanceOwner.party`` (the App API's ``InstanceResponse`` adds it), so Verify never saw it.
    * ``Download-Instance`` snapshots do not list the generated ``ref-data-as-pdf`` element (the
      PDF is recorded on its own as ``Download-PDF``, addressed as ``<dataElementId[1]>``).
    """
    if name.kind not in ("Instantiation", "Download-Instance"):
        return lambda response: response

    def view(response: httpx.Response) -> httpx.Response:
        if response.status_code not in (200, 201):
            return response
        body = response.json()
        (body.get("instanceOwner") or {}).pop("party", None)
        if name.kind == "Download-Instance":
            body["data"] = [e for e in body.get("data") or [] if e.get("dataType") != "ref-data-as-pdf"]
        return httpx.Response(
            response.status_code, headers=response.headers, json=body, request=response.request
        )

    return view


def check_pdf(response: httpx.Response, instance_id: str) -> list[Difference]:
    """The recording keeps no PDF body; its text must show what a receipt of this instance shows.

    ttd/basic's only page has no components, so that is the app's title (``basic``), the instance
    owner (Sophie Salt) and the instance id.
    """
    try:
        reader = PdfReader(io.BytesIO(response.content))
        text = "\n".join(page.extract_text() or "" for page in reader.pages)
    except Exception as exc:  # pypdf raises many types for a broken file
        return [Difference("pdf", "a PDF", f"unreadable: {exc}")]
    squeezed = re.sub(r"\s+", " ", text)
    return [
        Difference("pdf text", wanted, squeezed[:200])
        for wanted in ("basic", "Sophie Salt", instance_id)
        if wanted not in squeezed
    ]


def compare_recording(path: Path, flow: Flow | None, step_key: str) -> Outcome:
    name = recording_name(path)
    outcome = Outcome(name)
    if flow is None or step_key not in flow.responses:
        outcome.differences.append(Difference("step", "replayed", "the flow ended before this step"))
        return outcome
    recorded = load_recording(path)
    response = _fixture_view(name)(flow.responses[step_key])
    bindings = Bindings()
    _seed(bindings, flow.instances.get(step_key))
    outcome.differences = compare_response(recorded, response, bindings)
    if name.kind == "Download-PDF" and response.status_code == 200:
        outcome.differences += check_pdf(response, flow.instances[step_key]["id"])
    _classify(outcome)
    return outcome


# The recorded app logs each request as its controller action; Tinn's routes by the same names.
_GUID = "[0-9a-f-]{36}"
_INSTANCE = rf"/ttd/basic/instances/\d+/{_GUID}"
ACTIONS = (
    ("POST", "/ttd/basic/instances", "Instances.Post"),
    ("POST", "/ttd/basic/instances/create", "Instances.PostSimplified"),
    ("GET", _INSTANCE, "Instances.Get"),
    ("GET", "/ttd/basic/api/v1/applicationmetadata", "ApplicationMetadata.GetAction"),
    ("GET", rf"{_INSTANCE}/data/{_GUID}", "Data.Get"),
    ("PATCH", rf"{_INSTANCE}/data", "Data.PatchFormDataMultiple"),
    ("PUT", rf"{_INSTANCE}/process/next", "Process.NextElement"),
)
_LOGGED_REQUEST = re.compile(r"### Request: (\S+) - User: ([^,]+),")
_LOGGED_RESPONSE = re.compile(r"### Response: (\S+) - \S+, StatusCode: (\d*)")


def action(response: httpx.Response) -> str:
    path = response.request.url.path
    for method, pattern, name in ACTIONS:
        if response.request.method == method and re.fullmatch(pattern, path):
            return name
    return f"{response.request.method} {path}"


def logged_exchanges(text: str) -> list[tuple[str, bool, str]]:
    """(action, anonymous, status) per request in a recorded app log; status '' when not logged."""
    exchanges: list[tuple[str, bool, str]] = []
    requests = _LOGGED_REQUEST.findall(text)
    responses = _LOGGED_RESPONSE.findall(text)
    assert [a for a, _ in requests] == [a for a, _ in responses], "unpaired log lines"
    for (name, caller), (_, status) in zip(requests, responses, strict=True):
        exchanges.append((name, caller == "None/none", status))
    return exchanges


def compare_logs(path: Path, flow: Flow | None) -> Outcome:
    """A recorded app log: the flow's App API requests, in order, with their callers and statuses.

    The app logs no status for a streamed file (``FileStreamResult``); those match any status.
    """
    outcome = Outcome(recording_name(path))
    recorded = logged_exchanges(path.read_text(encoding="utf-8-sig"))
    ours = [
        (action(r), "authorization" not in r.request.headers, str(r.status_code))
        for r in (flow.log if flow is not None else [])
    ]
    if len(recorded) != len(ours):
        outcome.differences.append(Difference("requests", str(len(recorded)), str(len(ours))))
    for index, (theirs, mine) in enumerate(zip(recorded, ours, strict=False)):
        if theirs[:2] != mine[:2] or theirs[2] not in ("", mine[2]):
            outcome.differences.append(Difference(f"request {index}", str(theirs), str(mine)))
    _classify(outcome)
    return outcome


def compare_authentication(path: Path, client: httpx.Client) -> Outcome:
    """An ``Authentication`` recording: each part of the caller's details against its App API route."""
    name = recording_name(path)
    assert name.auth is not None
    recorded = load_recording(path)
    outcome = Outcome(name)
    bindings = Bindings()
    for where, response in run_authentication(client, name.auth, recorded).items():
        if response.status_code != 200:
            outcome.differences.append(Difference(f"{where} status", "200", str(response.status_code)))
            continue
        section, part = where.split(".")
        if part == "partiesAllowedToInstantiate":
            outcome.differences += _compare_by_party(
                recorded[section][part], response.json(), where, bindings
            )
        else:
            outcome.differences += compare_value(
                recorded[section][part], response.json(), where, bindings, projection=True
            )
    _classify(outcome)
    return outcome


def _compare_by_party(
    recorded: list[dict[str, Any]], ours: list[dict[str, Any]], where: str, bindings: Bindings
) -> list[Difference]:
    """Party lists that may leave parties out, compared party by party (``[partyId=N]``)."""
    theirs = {str(party["partyId"]): party for party in recorded}
    mine = {str(party["partyId"]): party for party in ours}
    differences: list[Difference] = []
    for party_id, party in theirs.items():
        place = f"{where}[partyId={party_id}]"
        if party_id not in mine:
            differences.append(Difference(place, "listed", "<absent>"))
        else:
            differences += compare_value(party, mine[party_id], place, bindings, projection=True)
    differences += [
        Difference(f"{where}[partyId={p}]", "<absent>", "listed") for p in mine if p not in theirs
    ]
    return differences


def _classify(outcome: Outcome) -> None:
    for difference in outcome.differences:
        entry = expected_for(outcome.recording, difference)
        if entry is not None:
            outcome.expected.append((difference, entry))


def replay_all(client: httpx.Client) -> list[Outcome]:
    """Replay every flow the recordings describe and compare each recording."""
    outcomes: list[Outcome] = []
    flows: dict[tuple[str, ...], Flow] = {}
    for path in all_recordings():
        name = recording_name(path)
        reason = not_replayed(name)
        if reason is not None:
            outcomes.append(Outcome(name, not_replayed=reason))
            continue
        if name.test == "Full":
            assert name.auth in AUTH_KINDS and name.case is not None, name
            key: tuple[str, ...] = ("Full", name.auth, name.case)
            if key not in flows:
                flows[key] = run_full(client, name.auth, name.case)
        elif name.test == "Authentication":
            outcomes.append(compare_authentication(path, client))
            continue
        elif name.test == "DataUpload":
            quoted, new = name.params["filenameQuoted"] == "True", name.params["useNewEndpoint"] == "True"
            key = ("DataUpload", str(quoted), str(new))
            if key not in flows:
                flows[key] = run_upload(client, quoted, new)
        else:
            raise AssertionError(f"no replay for {path.name}")
        if name.kind == "Logs":
            outcomes.append(compare_logs(path, flows[key]))
        else:
            outcomes.append(compare_recording(path, flows[key], f"{name.step}_{name.kind}"))
    return outcomes


def unused_expectations(outcomes: list[Outcome]) -> list[Expected]:
    """Table entries no difference needed: a stale table hides nothing, so these are errors."""
    used = {id(entry) for outcome in outcomes for _, entry in outcome.expected}
    return [entry for entry in EXPECTED if id(entry) not in used]
