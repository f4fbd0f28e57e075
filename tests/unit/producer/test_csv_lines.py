"""The line screen in front of Arrow: bad lines out with their physical numbers, the rest unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest

from fraudlake.producer.csv_lines import ScreenedLines, line_problem

pytestmark = pytest.mark.unit

LINES = [
    b"a,b,c",
    b'1,"x,y",z',
    b'2,"never closed,q',
    b"3,caf\xe9,z",
    b'4,"",""',
    b"5,ok,ok",
]


@pytest.mark.parametrize("block_size", [1, 3, 7, 64, 1 << 20])
@pytest.mark.parametrize("final_newline", [True, False])
def test_bad_lines_are_reported_and_the_rest_passes_unchanged(
    tmp_path: Path, block_size: int, final_newline: bool
) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(b"\n".join(LINES) + (b"\n" if final_newline else b""))
    bad: list[tuple[int, str]] = []
    with ScreenedLines(path, lambda line, reason, _: bad.append((line, reason)), block_size) as screened:
        passed = screened.read()
    good = [LINES[i] for i in (0, 1, 4, 5)]
    assert passed == b"\n".join(good) + (b"\n" if final_newline else b"")
    assert bad == [(3, "unterminated quote"), (4, "invalid UTF-8 at byte 5")]


def test_line_problem_names_the_first_reason() -> None:
    assert line_problem(b'1,"a""b",c') is None  # an escaped quote inside a quoted field
    assert line_problem(b'1,"a,c') == "unterminated quote"
    assert line_problem(b"\xff") == "invalid UTF-8 at byte 0"
