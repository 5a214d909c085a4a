"""API keys: ``fah_<prefix>_<secret>``. Only the prefix (to find the row) and a salted SHA-256 of the
secret are stored, so a database leak gives no usable key. Roles: ``read`` and ``admin``."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.db.models import ApiKey, utcnow

ROLES = ("read", "admin")
KEY_PREFIX = "fah"


@dataclass(frozen=True)
class NewKey:
    key: str
    prefix: str
    salt: str
    key_hash: str


def hash_secret(salt: str, secret: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + secret.encode()).hexdigest()


def generate_key() -> NewKey:
    prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_hex(16)
    return NewKey(f"{KEY_PREFIX}_{prefix}_{secret}", prefix, salt, hash_secret(salt, secret))


def create_key(session: Session, role: str, name: str = "") -> tuple[str, ApiKey]:
    """Store a new key and return it in clear (the only time it is ever visible) with its row."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    new = generate_key()
    row = ApiKey(prefix=new.prefix, salt=new.salt, key_hash=new.key_hash, role=role, name=name, created_at=utcnow())
    session.add(row)
    session.flush()
    return new.key, row


def find_key(session: Session, key: str) -> ApiKey | None:
    """The active key row for ``key``, or None (malformed, unknown, revoked or wrong secret)."""
    parts = key.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1] or not parts[2]:
        return None
    row = session.execute(select(ApiKey).where(ApiKey.prefix == parts[1])).scalar_one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.key_hash, hash_secret(row.salt, parts[2])):
        return None
    return row


def allows(role: str, needed: str) -> bool:
    return role == "admin" or role == needed
