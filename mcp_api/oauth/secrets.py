"""The secrets OAuth hands out, and how they are stored: only sha256 hashes, never the values.

Codes and tokens carry 256 random bits, so a plain hash is as good as a slow one. A prefix names
what a bearer token is (`sho_` access, `shr_` refresh), so the API tells them from API keys
(`shk_`) without a database round trip.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

ACCESS_PREFIX = "sho_"
REFRESH_PREFIX = "shr_"
ACCESS_LIFETIME = timedelta(hours=1)
REFRESH_LIFETIME = timedelta(days=30)
CODE_LIFETIME = timedelta(minutes=5)
LINK_CODE_LIFETIME = timedelta(minutes=10)

# Link codes are typed by a person: no 0/O, 1/I/L; shown in groups of four.
_LINK_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
_LINK_LENGTH = 12  # 31^12 ≈ 2^59: with wrong tries rate-limited, never guessed in 10 minutes


def hash_secret(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def access_token() -> str:
    return ACCESS_PREFIX + secrets.token_urlsafe(32)


def refresh_token() -> str:
    return REFRESH_PREFIX + secrets.token_urlsafe(32)


def opaque() -> str:
    """Authorization codes, client secrets, consent request ids, CSRF tokens."""
    return secrets.token_urlsafe(32)


def link_code() -> str:
    raw = "".join(secrets.choice(_LINK_ALPHABET) for _ in range(_LINK_LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, _LINK_LENGTH, 4))


def normalize_link_code(text: str) -> str | None:
    """What a person typed, as stored (upper case, no dashes or spaces); None if it cannot be one."""
    cleaned = "".join(ch for ch in text.upper() if ch not in " -")
    if len(cleaned) != _LINK_LENGTH or any(ch not in _LINK_ALPHABET for ch in cleaned):
        return None
    return cleaned


def link_code_hash(code: str) -> str:
    """The stored form of a link code as `link_code()` prints it."""
    normalized = normalize_link_code(code)
    assert normalized is not None
    return hash_secret(normalized)
