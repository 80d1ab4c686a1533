"""The API key scheme, shared by the CLI that issues keys and the API that checks them.

A key is `shk_<8 hex>_<43 url-safe chars>` (256 random bits). The first 12 characters are its
public prefix: shown in lists, used to find the row. Only sha256(key) is stored: for keys this
random a plain hash is as good as a slow one, and checking it costs microseconds per request.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

KEY_PREFIX = "shk_"
PREFIX_LENGTH = len(KEY_PREFIX) + 8
KEY_PATTERN = re.compile(r"shk_[0-9a-f]{8}_[A-Za-z0-9_-]{43}")


def generate() -> str:
    return f"{KEY_PREFIX}{secrets.token_hex(4)}_{secrets.token_urlsafe(32)}"


def prefix_of(key: str) -> str:
    return key[:PREFIX_LENGTH]


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def looks_like_key(text: str) -> bool:
    return KEY_PATTERN.fullmatch(text) is not None


def matches(key: str, stored_hash: str) -> bool:
    """Constant-time comparison of a presented key with a stored hash."""
    return hmac.compare_digest(hash_key(key), stored_hash)
