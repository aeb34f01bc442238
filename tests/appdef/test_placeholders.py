"""Studio's ``[ORG]``/``[APP]`` placeholders, replaced the way Altinn's deploy does."""

from __future__ import annotations

import pytest

from tinn.appdef.placeholders import replace_placeholders


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("app_[ORG]_[APP]:policyid:1", "app_ttd_soknad:policyid:1"),
        ("eier ([org]) av [app]", "eier (ttd) av soknad"),
        ("[Org] and [ORG][ORG]", "[Org] and ttdttd"),
        ("no placeholders", "no placeholders"),
        ("", ""),
    ],
)
def test_replace_placeholders(text: str, expected: str) -> None:
    assert replace_placeholders(text, "ttd", "soknad") == expected
