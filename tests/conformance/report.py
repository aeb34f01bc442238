"""Print how the recordings replay: ``python -m tests.conformance.report``.

Starts a Tinn on loopback with a temporary SQLite database (as the test suite does), replays every
recording and prints, per step kind, how many match exactly, how many differ only as the
expected-difference table says, and every other difference.
"""

from __future__ import annotations

import sys
import tempfile
from collections import Counter
from pathlib import Path

import httpx

from tests.conformance.harness import (
    LOCALTEST_APPS_URL,
    LOCALTEST_PLATFORM_URL,
    replay_all,
    unused_expectations,
    write_recorded_app,
)
from tests.conftest import LiveServer, make_settings


def main() -> int:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        settings = make_settings(
            f"sqlite+aiosqlite:///{root / 'tinn.db'}",
            root / "data",
            apps=[write_recorded_app(root / "apps")],
            apps_public_url=LOCALTEST_APPS_URL,
            platform_public_url=LOCALTEST_PLATFORM_URL,
        )
        server = LiveServer(settings).start()
        try:
            with httpx.Client(base_url=server.url, timeout=60) as client:
                outcomes = replay_all(client)
        finally:
            server.stop()
    counts: Counter[tuple[str, str]] = Counter()
    for outcome in outcomes:
        kind = outcome.recording.kind or outcome.recording.test
        state = (
            "not replayed"
            if outcome.not_replayed
            else "match"
            if outcome.matches
            else "expected differences only"
            if outcome.accepted
            else "UNEXPECTED"
        )
        counts[(kind, state)] += 1
    for (kind, state), count in sorted(counts.items()):
        print(f"{kind:24} {state:28} {count}")
    failed = False
    for outcome in outcomes:
        if outcome.not_replayed is None and outcome.unexpected:
            failed = True
            print(f"\n{outcome.recording.file}")
            for difference in outcome.unexpected:
                print(f"  {difference}")
    for entry in unused_expectations(outcomes):
        failed = True
        print(f"unused expectation: {entry}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
