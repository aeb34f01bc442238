"""Reading app JSON: tolerated syntax, error lines, and locating a value by its path."""

from __future__ import annotations

from pathlib import Path

import pytest

from tinn.appdef.jsonfiles import AppFileError, line_of, parse_json, relax

PATH = Path("app/file.json")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": [1, 2,], }', '{"a": [1, 2 ]  }'),
        ('{"a": "x,]"}', '{"a": "x,]"}'),
        ('{"a": "\\",]"}', '{"a": "\\",]"}'),
        ("[,]", "[,]"),
        ("[1,,]", "[1,,]"),
        ('{"a": 1, // note\n}', '{"a": 1         \n}'),
        ("[1, /* x,\n y */ 2]", "[1," + " " * 6 + "\n" + " " * 6 + "2]"),
        ('{"url": "http://x/*y*/"}', '{"url": "http://x/*y*/"}'),
    ],
)
def test_relax_blanks_comments_and_trailing_commas_in_place(text: str, expected: str) -> None:
    assert relax(text, comments=True, trailing_commas=True) == expected


def test_relax_can_leave_comments_alone() -> None:
    assert relax("[1, // x\n]", comments=False, trailing_commas=True) == "[1, // x\n]"


def test_parse_json_tolerates_only_what_it_is_told() -> None:
    assert parse_json('{"a": [1,],}', PATH) == {"a": [1]}
    assert parse_json('{"a": 1, /* c */ "b": 2}', PATH) == {"a": 1, "b": 2}
    with pytest.raises(AppFileError) as raised:
        parse_json('{\n  "a": 1,\n}', PATH, trailing_commas=False)
    assert raised.value.line == 2 and raised.value.path == PATH
    with pytest.raises(AppFileError) as raised:
        parse_json('{\n  // c\n  "a": 1\n}', PATH, comments=False)
    assert raised.value.line == 2
    assert str(raised.value).startswith("app/file.json:2: invalid JSON")


def test_error_line_survives_relaxing() -> None:
    with pytest.raises(AppFileError) as raised:
        parse_json('{\n  /* one\n  two */\n  "a": [1,],\n  "b": nope\n}', PATH)
    assert raised.value.line == 5


TEXT = """{
  "a": 1,
  "Items": [
    {"x": 1},
    {
      "x": 2,
      "y": {"z": true}
    }
  ],
  "s": "has } and ] and ,"
}"""


@pytest.mark.parametrize(
    ("loc", "line"),
    [
        ([], 1),
        (["a"], 2),
        (["items"], 3),
        (["Items", 0], 4),
        (["Items", 1], 5),
        (["Items", 1, "x"], 6),
        (["Items", 1, "y", "z"], 7),
        (["Items", 1, "missing"], 5),
        (["Items", 9], 3),
        (["s"], 10),
        (["a", "b"], 2),
    ],
)
def test_line_of(loc: list[str | int], line: int) -> None:
    assert line_of(TEXT, loc) == line


def test_line_of_broken_text_is_none() -> None:
    assert line_of('{"a": ', ["a", "b"]) is None
