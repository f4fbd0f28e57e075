"""Card-number tokenization: a keyed HMAC, so the PAN never leaves the producer.

A plain hash of a 16-digit PAN can be reversed by enumeration (the BIN and the Luhn digit leave
~10^9 candidates), so tokens are HMAC-SHA256 under a secret key. The same key gives the same token
for the same card everywhere (joins across topics and runs); without the key a token reveals nothing.

Key lookup, first hit wins: `FRAUDLAKE_CARD_TOKEN_KEY` (≥ 16 characters), the file named by
`FRAUDLAKE_CARD_TOKEN_KEY_FILE`, else a random key created once in `~/.config/fraudlake/card-token.key`
(owner-only) so local runs are stable without a secret in the repository.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

TOKEN_PREFIX = "tok_"  # noqa: S105 - a label, not a secret
_MIN_KEY_BYTES = 16


def default_key_file() -> Path:
    return Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config")) / "fraudlake" / "card-token.key"


def load_token_key() -> bytes:
    """The tokenization key from the environment or the local key file (created if missing)."""
    from_env = os.environ.get("FRAUDLAKE_CARD_TOKEN_KEY")
    if from_env:
        return _checked(from_env.encode(), "FRAUDLAKE_CARD_TOKEN_KEY")
    key_file = Path(os.environ.get("FRAUDLAKE_CARD_TOKEN_KEY_FILE", default_key_file()))
    if not key_file.exists():
        _create_key_file(key_file)
    return _checked(key_file.read_bytes().strip(), str(key_file))


def tokenize_pan(pan: str | int, key: bytes) -> str:
    """`tok_` + 32 hex characters of HMAC-SHA256(key, digits of the PAN)."""
    digits = "".join(ch for ch in str(pan) if ch.isdigit())
    if not 12 <= len(digits) <= 19:
        raise ValueError("a card number has 12 to 19 digits")
    return TOKEN_PREFIX + hmac.new(key, digits.encode(), hashlib.sha256).hexdigest()[:32]


def last4(pan: str | int) -> str:
    """The last four digits, the only part of a PAN that may be shown (PCI DSS masking)."""
    return "".join(ch for ch in str(pan) if ch.isdigit())[-4:]


def _checked(key: bytes, source: str) -> bytes:
    if len(key) < _MIN_KEY_BYTES:
        raise ValueError(f"card token key from {source} is shorter than {_MIN_KEY_BYTES} bytes")
    return key


def _create_key_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(32))
    # Two processes racing to create the key: rename is atomic, the loser re-reads the winner's file.
    if not path.exists():
        tmp.replace(path)
    else:
        tmp.unlink()
