"""Which keys of a Helm values.yaml lack a comment (pure text analysis; "every value commented")."""

from __future__ import annotations

import re
from dataclasses import dataclass

KEY_LINE = re.compile(r"^(?P<indent>\s*)(?P<dash>-\s+)?(?P<key>[\w.\-/]+|\"[^\"]+\"):(\s|$)")
COMMENT_LINE = re.compile(r"^\s*(-\s+)?#")


@dataclass(frozen=True)
class Key:
    line: int  # 0-based
    indent: int  # column of the key itself (after a list dash)
    name: str
    commented: bool  # a comment line directly above it (or on its list dash)


def keys(text: str) -> list[Key]:
    lines = text.splitlines()
    found = []
    for number, line in enumerate(lines):
        match = KEY_LINE.match(line)
        if not match or line.lstrip().startswith("#"):
            continue
        indent = len(match.group("indent")) + len(match.group("dash") or "")
        previous = lines[number - 1] if number else ""
        found.append(Key(number, indent, match.group("key"), bool(COMMENT_LINE.match(previous))))
    return found


def _subtree_end(lines: list[str], key: Key) -> int:
    """Index of the first line after `key`'s block (its nested keys, list items and comments)."""
    for number in range(key.line + 1, len(lines)):
        stripped = lines[number].lstrip()
        if not stripped or stripped.startswith("#"):
            continue
        column = len(lines[number]) - len(stripped)
        if column < key.indent or (column == key.indent and not stripped.startswith("-")):
            return _without_trailing_comments(lines, key.line + 1, number)
    return _without_trailing_comments(lines, key.line + 1, len(lines))


def _without_trailing_comments(lines: list[str], start: int, end: int) -> int:
    # Comments just before the next key document that key, not the block that ends here.
    while end > start and (not lines[end - 1].strip() or COMMENT_LINE.match(lines[end - 1])):
        end -= 1
    return end


def undocumented_top_level(text: str) -> list[str]:
    """Top-level keys without a comment directly above them."""
    return [key.name for key in keys(text) if key.indent == 0 and not key.commented]


def undocumented(text: str) -> list[str]:
    """Dotted paths of keys that no comment documents.

    A key is documented by a comment directly above it, or by its nearest commented ancestor when that
    ancestor's whole block has no comment of its own (the ancestor's comment then describes the block).
    """
    lines = text.splitlines()
    all_keys = keys(text)
    problems = []
    for index, key in enumerate(all_keys):
        ancestors = _ancestors(all_keys, index)
        if key.commented:
            continue
        documented_by_block = False
        for ancestor in reversed(ancestors):
            if ancestor.commented:
                block = lines[ancestor.line + 1 : _subtree_end(lines, ancestor)]
                documented_by_block = not any(COMMENT_LINE.match(line) for line in block)
                break
        if not documented_by_block:
            problems.append(".".join([a.name for a in ancestors] + [key.name]))
    return problems


def _ancestors(all_keys: list[Key], index: int) -> list[Key]:
    chain: list[Key] = []
    indent = all_keys[index].indent
    for candidate in reversed(all_keys[:index]):
        if candidate.indent < indent:
            chain.insert(0, candidate)
            indent = candidate.indent
    return chain
