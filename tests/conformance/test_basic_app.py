"""Replay Altinn's ``ttd/basic`` recordings against a live Tinn and compare every one.

One server (the session's database, SQLite or PostgreSQL) runs the recorded app with localtest's
public URLs; each recorded flow is replayed once and each recording compared on its own. A
recording passes when it matches, or differs only as the expected-difference table says.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conformance.expected import EXPECTED, NOT_REPLAYED, not_replayed
from tests.conformance.harness import (
    LOCALTEST_APPS_URL,
    LOCALTEST_PLATFORM_URL,
    Outcome,
    replay_all,
    unused_expectations,
    write_recorded_app,
)
from tests.conformance.verify import all_recordings, recording_name
from tests.conftest import LiveServer, make_settings

RECORDINGS = all_recordings()
REPLAYED = [path for path in RECORDINGS if not_replayed(recording_name(path)) is None]


@pytest.fixture(scope="module")
def outcomes(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Outcome]]:
    apps = write_recorded_app(tmp_path_factory.mktemp("recorded-app"))
    settings = make_settings(
        database_url,
        tmp_path_factory.mktemp("data"),
        apps=[apps],
        apps_public_url=LOCALTEST_APPS_URL,
        platform_public_url=LOCALTEST_PLATFORM_URL,
    )
    server = LiveServer(settings).start()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            yield {outcome.recording.file: outcome for outcome in replay_all(client)}
    finally:
        server.stop()


def test_the_recordings_are_there() -> None:
    kinds = Counter(recording_name(path).kind or recording_name(path).test for path in RECORDINGS)
    assert kinds == {
        "Instantiation": 20,
        "Download-Data[0]": 32,
        "PatchFormData": 16,
        "ProcessNext": 16,
        "Download-Instance": 16,
        "Download-PDF": 16,
        "UploadResponse": 4,
        "Logs": 32,
        "Authentication": 6,
        "AppConnectivity_Localtest": 1,
        "AppConnectivity_Pdf": 1,
        "HostedServices": 1,
    }


def test_every_http_recording_is_replayed(outcomes: dict[str, Outcome]) -> None:
    assert set(outcomes) == {path.name for path in RECORDINGS}
    replayed = [o for o in outcomes.values() if o.not_replayed is None]
    assert len(replayed) == len(REPLAYED) == 142
    reasons = Counter(o.not_replayed for o in outcomes.values() if o.not_replayed)
    assert reasons == {
        NOT_REPLAYED["6_Logs"]: 16,
        NOT_REPLAYED["AppConnectivity_Localtest"]: 1,
        NOT_REPLAYED["AppConnectivity_Pdf"]: 1,
        NOT_REPLAYED["HostedServices"]: 1,
    }


@pytest.mark.parametrize("recording", REPLAYED, ids=lambda path: path.name[len("BasicAppTests.") : -13])
def test_recording_replays(outcomes: dict[str, Outcome], recording: Path) -> None:
    outcome = outcomes[recording.name]
    assert outcome.not_replayed is None
    assert outcome.unexpected == [], "\n".join(str(d) for d in outcome.unexpected)


def test_the_expected_difference_table_is_current(outcomes: dict[str, Outcome]) -> None:
    assert unused_expectations(list(outcomes.values())) == []
    assert len({entry.key for entry in EXPECTED}) == len(EXPECTED)


def test_steps_without_listed_differences_match_exactly(outcomes: dict[str, Outcome]) -> None:
    """Form data downloads, PDFs, failed instantiations, upload errors and callers are identical."""
    by_kind: Counter[str] = Counter()
    for outcome in outcomes.values():
        if outcome.matches:
            by_kind[outcome.recording.kind or outcome.recording.test] += 1
    assert by_kind["Download-Data[0]"] == 32
    assert by_kind["Download-PDF"] == 16
    # The four JSON-part instantiations (400) and three of four uploads (two 400s, the legacy 201).
    assert by_kind["Instantiation"] == 4
    assert by_kind["UploadResponse"] == 3
    # Service owners (both), the system user: everything; users differ only in the filtered list.
    assert by_kind["Authentication"] == 3
    # The app logs: the same requests in the same order, with the same callers and statuses.
    assert by_kind["Logs"] == 16
