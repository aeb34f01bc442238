"""docs/sdk.md and docs/quickstart.md are run, and `tinn demo` is run, against a live Tinn."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.client.conftest import PDF, soknad_xml
from tests.conftest import REPO, LiveServer
from tinn.cli import app as tinn_cli

DOCS = REPO / "docs"
DEFAULT_URL = "http://127.0.0.1:5005"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)


def quickstart_commands(text: str) -> list[str]:
    sections = re.findall(
        r"<!-- tinn:quickstart -->\n```sh\n(.*?)```\n<!-- /tinn:quickstart -->", text, re.DOTALL
    )
    return [line for section in sections for line in section.splitlines() if line.strip()]


def test_sdk_examples_run(server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = python_blocks((DOCS / "sdk.md").read_text("utf-8"))
    assert len(blocks) >= 5
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "sdk_md"}
    for block in blocks:
        exec(compile(block.replace(DEFAULT_URL, server.url), "docs/sdk.md", "exec"), namespace)  # noqa: S102
    assert Path("receipt.pdf").read_bytes().startswith(b"%PDF")
    assert Path("instance.zip").stat().st_size > 0


def test_quickstart_commands_run(server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    commands = quickstart_commands((DOCS / "quickstart.md").read_text("utf-8"))
    assert [shlex.split(c)[:2] for c in commands] == [["tinn", "submit"], ["tinn", "receive"]]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "model.xml").write_bytes(soknad_xml(25000))
    (tmp_path / "report.pdf").write_bytes(PDF)
    outputs = []
    for command in commands:
        result = CliRunner().invoke(tinn_cli, [*shlex.split(command)[1:], "--url", server.url, "--json"])
        assert result.exit_code == 0, result.output
        outputs.append(json.loads(result.stdout))
    instance_id = outputs[0]["instanceId"]
    assert Path(outputs[0]["receipt"]).exists()
    assert instance_id in [item["instanceId"] for item in outputs[1]["received"]]
    assert (
        tmp_path / "received" / instance_id.split("/")[1] / "attachment" / "report.pdf"
    ).read_bytes() == PDF


def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    """The issue's bar: `tinn demo` works right after the README's first command (bundled apps)."""
    result = subprocess.run(
        [sys.executable, "-m", "tinn", "demo", "--json", "--keep", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["instanceId"] in [item["instanceId"] for item in summary["received"]]
    assert Path(summary["receipt"]).read_bytes().startswith(b"%PDF")
