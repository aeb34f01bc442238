"""The expected-difference table: where Tinn answers differently from the recordings, and why.

Each :class:`Expected` names the recordings it applies to (a regular expression on the file name),
the place in the response (a regular expression on :attr:`Difference.where`) and, when the value
matters, what Tinn sends instead. The harness fails on any difference not in this table and on any
entry that no longer matches a difference, so the table is always the complete, current list.
docs/compatibility.md ("Replaying Altinn's recordings") lists the same differences for readers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tests.conformance.compare import Difference
from tests.conformance.verify import RecordingName

# Recordings (by test name or step kind) that are not HTTP exchanges with the App API.
NOT_REPLAYED: dict[str, str] = {
    "6_Logs": "an older app log of the same flow (app-lib before the PDF download step and with "
    "older hook names), superseded by the flow's 7_Logs, which is replayed",
    "AppConnectivity_Localtest": "the test app container reaching localtest's /health over Docker networking",
    "AppConnectivity_Pdf": "the test app container reaching the PDF generator over Docker networking",
    "HostedServices": "the .NET dependency-injection container's registered services",
}


def not_replayed(name: RecordingName) -> str | None:
    """Why a recording is not replayed, or None for the HTTP exchanges the harness replays."""
    return NOT_REPLAYED.get(name.test) or NOT_REPLAYED.get(f"{name.step}_{name.kind}")


@dataclass(frozen=True)
class Expected:
    """Differences at ``where`` (regex on the path) in recordings whose file name matches
    ``recordings``, with the recorded value matching ``recorded`` and ours matching ``ours``."""

    key: str
    recordings: str
    where: str
    recorded: str
    ours: str
    reason: str
    # Set when the difference is a Tinn defect waiting for a fix in code owned elsewhere.
    fix_in: str | None = None

    def applies(self, name: RecordingName, difference: Difference) -> bool:
        return (
            re.search(self.recordings, name.file) is not None
            and re.fullmatch(self.where, difference.where) is not None
            and re.fullmatch(self.recorded, difference.recorded) is not None
            and re.fullmatch(self.ours, difference.ours) is not None
        )


_TIMESTAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z"
_ELEMENT = r"Response(\.Instance)?\.Data\[\d+\]"

EXPECTED: list[Expected] = [
    Expected(
        "app-identity",
        recordings=".",
        where=r"Response(\.Instance)?(\.Data\[\d+\])?\.(CreatedBy|LastChangedBy)",
        recorded="991825827",
        ours="1337|405003309",
        reason="Altinn's app writes auto-created form data and process changes to Storage under its "
        "own identity (in localtest the app's organisation 991825827); Tinn has no app-to-Storage hop "
        "and records the caller whose request made the change (user 1337, or service owner ttd "
        "405003309).",
    ),
    Expected(
        "one-instant",
        recordings=".",
        where=r"Response(\.Instance)?\.(Process\.Started|Process\.CurrentTask\.Started|LastChanged)",
        recorded=r"DateTime_\d+",
        ours=_TIMESTAMP,
        reason="Tinn stamps everything one request changes with one instant of its clock (instance "
        "created = process started = first task started = lastChanged); Altinn reads the clock "
        "separately in each of its calls to Storage, so these differ by milliseconds there.",
    ),
    Expected(
        "stale-patch-element",
        recordings="_PatchFormData",
        where=r"Response\.Instance\.Data\[0\]\.(Size|LastChanged)",
        recorded=r"\d+|DateTime_\d+",
        ours=rf"\d+|{_TIMESTAMP}",
        reason="Altinn's PATCH response embeds the instance as it was read before the patched model "
        "was saved (the model's old size and lastChanged); Tinn's shows the element as saved.",
    ),
    Expected(
        "content-hash",
        recordings=".",
        where=rf"{_ELEMENT}\.ContentHash",
        recorded="<absent>",
        ours="[0-9a-f]{64}",
        reason="Tinn computes the sha256 of every stored blob while streaming it and reports it as "
        "contentHash; Altinn's Storage never fills contentHash (null, so not recorded).",
    ),
    Expected(
        "instantiation-parties-by-policy",
        recordings="Authentication_auth=(User|OldUser|SelfIdentifiedUser)",
        where=r"details\.partiesAllowedToInstantiate\[partyId=\d+\]",
        recorded="listed",
        ours="<absent>",
        reason="Deliberate: GET api/v1/parties?allowedToInstantiateFilter=true keeps the parties the "
        "app's partyTypesAllowed admits and its policy lets the caller instantiate for; Altinn applies "
        "only partyTypesAllowed and lets the instantiation fail with 403 later. ttd/basic's policy "
        "gives instantiate to the roles Sophie Salt has for three of her eight parties, and none to a "
        "self-identified user.",
    ),
]


def expected_for(name: RecordingName, difference: Difference) -> Expected | None:
    for entry in EXPECTED:
        if entry.applies(name, difference):
            return entry
    return None
