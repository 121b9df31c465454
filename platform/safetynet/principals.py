"""Principals: who is asking. API keys (kept only hashed) carry a role and a scope (API.md, Security)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from safetynet.model import Role
from safetynet.rules import NATIONAL_CODE, check_code
from safetynet.store.models import ApiKey

KEY_PREFIX = "sn_"
USER_AGENT_LENGTH = 300  # the audit log's column


@dataclass(frozen=True)
class Origin:
    """Where a request came from, as the audit log (审计日志) records it beside the key: the client's
    address and user agent (cut to :data:`USER_AGENT_LENGTH`). The command line has neither."""

    client: str | None = None
    user_agent: str | None = None

    @classmethod
    def of(cls, client: str | None, user_agent: str | None) -> Origin:
        return cls(client, user_agent[:USER_AGENT_LENGTH] if user_agent else None)


LOCAL = Origin()  # a call from this machine's code (the command line), not over HTTP


class KeyError_(ValueError):
    """A key that cannot be created as asked; the message names the option."""


@dataclass(frozen=True)
class Principal:
    """The caller of a request. ``locality_code`` bounds what a civil-affairs or department key sees."""

    key_id: int | None
    role: Role
    locality_code: str | None = None
    partner_code: str | None = None
    department: str | None = None

    @property
    def scope(self) -> str:
        """The area this principal may see (the nation for admins and auditors)."""
        return self.locality_code or NATIONAL_CODE

    @property
    def may_write(self) -> bool:
        return self.role is not Role.AUDITOR

    @property
    def may_read_id_numbers(self) -> bool:
        return self.role is Role.ADMIN


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(
    session: Session,
    role: Role,
    *,
    locality_code: str | None = None,
    partner_code: str | None = None,
    department: str | None = None,
    label: str | None = None,
    expires_at: datetime | None = None,
) -> str:
    """Create a key and return it; only its hash is stored, so it is shown once."""
    if locality_code is not None:
        check_code(locality_code)
    if role is Role.CIVIL_AFFAIRS and not locality_code:
        raise KeyError_("a CIVIL_AFFAIRS key needs --locality (the county or township it serves)")
    if role is Role.PARTNER and not partner_code:
        raise KeyError_("a PARTNER key needs --partner (the partner's code)")
    if role is Role.DEPARTMENT and not department:
        raise KeyError_("a DEPARTMENT key needs --department (e.g. medical_security)")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    session.add(
        ApiKey(
            key_hash=hash_key(key),
            key_prefix=key[:10],
            role=role,
            locality_code=locality_code,
            partner_code=partner_code,
            department=department,
            label=label,
            expires_at=expires_at,
        )
    )
    session.flush()
    return key


class KeyRefused(Exception):
    """A key that does not authenticate; the message says why (unknown, revoked, expired)."""


def authenticate(session: Session, key: str, *, now: datetime | None = None) -> Principal:
    """The principal for a key; :class:`KeyRefused` for an unknown, revoked or expired key."""
    row = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(key)))
    if row is None:
        raise KeyRefused("unknown API key")
    if row.revoked_at is not None:
        raise KeyRefused(f"API key {row.key_prefix}… (id {row.id}) was revoked at {_shown(row.revoked_at)}")
    if row.expires_at is not None and aware(row.expires_at) <= (now or datetime.now(UTC)):
        raise KeyRefused(f"API key {row.key_prefix}… (id {row.id}) expired at {_shown(row.expires_at)}")
    return Principal(row.id, row.role, row.locality_code, row.partner_code, row.department)


def revoke_key(session: Session, key_id: int, *, now: datetime | None = None) -> ApiKey:
    """Revoke a key by id (from ``safetynet keys list``); revoking it again keeps the first time."""
    row = session.get(ApiKey, key_id)
    if row is None:
        raise KeyError_(f"no API key with id {key_id} (see `safetynet keys list`)")
    if row.revoked_at is None:
        row.revoked_at = now or datetime.now(UTC)
        session.flush()
    return row


def list_keys(session: Session) -> list[ApiKey]:
    """Every key, oldest first (only hashes and prefixes are stored: no secret can be shown)."""
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))


def key_status(row: ApiKey, now: datetime | None = None) -> str:
    """``active``, ``revoked`` or ``expired``."""
    if row.revoked_at is not None:
        return "revoked"
    if row.expires_at is not None and aware(row.expires_at) <= (now or datetime.now(UTC)):
        return "expired"
    return "active"


def aware(moment: datetime) -> datetime:
    """A stored time in UTC (SQLite gives it back without a time zone)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _shown(moment: datetime) -> str:
    return aware(moment).strftime("%Y-%m-%d %H:%M UTC")
