"""Screen a CSV file line by line before Arrow parses it: one bad line costs itself, never the file.

TabFormer's values never hold a newline (its one quoted column, `Errors?`, holds a comma-separated
list), so a physical line is a record. Two kinds of line would otherwise stop or corrupt a replay:
a byte sequence that is not UTF-8 makes Arrow abort the whole read, and an unterminated quote makes
it read every following line into one field. Such lines are reported with their physical line
number and left out; everything else passes through unchanged, a block at a time (the clean path
costs one UTF-8 decode and one regular-expression scan per block, both in C).
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path

# A line holding an odd number of quote characters: it opens a quoted field it never closes.
_ODD_QUOTES = re.compile(rb'^[^"\n]*(?:"[^"\n]*"[^"\n]*)*"[^"\n]*$', re.MULTILINE)

BadLine = Callable[[int, str, bytes], None]  # (physical line, reason, the line's bytes)


def line_problem(line: bytes) -> str | None:
    """Why `line` (without its newline) cannot be a record, or None."""
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"invalid UTF-8 at byte {exc.start}"
    if line.count(b'"') % 2:
        return "unterminated quote"
    return None


class ScreenedLines(io.RawIOBase):
    """A readable binary stream of `path`'s acceptable lines; `on_bad` hears of each other line."""

    def __init__(self, path: Path, on_bad: BadLine, block_size: int = 8 << 20) -> None:
        super().__init__()
        self._file = Path(path).open("rb")  # noqa: SIM115  (closed with this stream)
        self._on_bad = on_bad
        self._block_size = block_size
        self._carry = b""  # the unfinished last line of the previous block
        self._ready = bytearray()
        self._next_line = 1  # physical number of the first line in the next block
        self._eof = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while not self._ready and not self._eof:
            self._screen_next_block()
        size = min(len(buffer), len(self._ready))
        buffer[:size] = self._ready[:size]
        del self._ready[:size]
        return size

    def close(self) -> None:
        self._file.close()
        super().close()

    def _screen_next_block(self) -> None:
        block = self._file.read(self._block_size)
        if not block:
            self._eof = True
            block, self._carry = self._carry, b""
        else:
            block = self._carry + block
            cut = block.rfind(b"\n") + 1
            if cut == 0:  # no line end yet: keep reading
                self._carry = block
                return
            block, self._carry = block[:cut], block[cut:]
        if self._clean(block):
            self._ready += block
        else:
            self._screen_lines(block)
        self._next_line += block.count(b"\n")

    @staticmethod
    def _clean(block: bytes) -> bool:
        try:
            block.decode("utf-8")
        except UnicodeDecodeError:
            return False
        return _ODD_QUOTES.search(block) is None

    def _screen_lines(self, block: bytes) -> None:
        for offset, line in enumerate(block.splitlines(keepends=True)):
            problem = line_problem(line.rstrip(b"\r\n"))
            if problem is None:
                self._ready += line
            else:
                self._on_bad(self._next_line + offset, problem, line.rstrip(b"\r\n"))
