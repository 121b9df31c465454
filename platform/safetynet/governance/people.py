"""What the two registers share: who may use them, the area a row belongs to, and the person's identity number.

Both registers (近亲属备案 and 失信记录) are kept by civil affairs: ADMIN keys anywhere, CIVIL_AFFAIRS
keys within their area; AUDITOR keys read everything and change nothing; DEPARTMENT and PARTNER keys
are refused. The identity number is stored like a member's: encrypted, a keyed hash for matching, masked.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, false, true

from safetynet.errors import Problems, fail
from safetynet.identity import IdentityVault, IdNumberError, mask_id_number, parse_id_number
from safetynet.model import Role
from safetynet.principals import Principal
from safetynet.rules import LocalityCodeError, LocalityRegistry, is_within
from safetynet.store.scope import within_scope

READERS = (Role.ADMIN, Role.AUDITOR, Role.CIVIL_AFFAIRS)
WRITERS = (Role.ADMIN, Role.CIVIL_AFFAIRS)


def check_writer(principal: Principal, what: str, path: str) -> None:
    """A FORBIDDEN user error unless the principal may change the register."""
    if principal.role not in WRITERS:
        raise fail((path,), f"a {principal.role.name} key cannot {what}", "FORBIDDEN")


def visible_in_register(column: ColumnElement[str], principal: Principal) -> ColumnElement[bool]:
    """The rows a principal may read, by the row's locality column."""
    if principal.role in (Role.ADMIN, Role.AUDITOR):
        return true()
    if principal.role is Role.CIVIL_AFFAIRS:
        return within_scope(column, principal)
    return false()


def read_locality(
    code: Any, path: str, localities: LocalityRegistry, principal: Principal, problems: Problems
) -> str | None:
    """A known locality code inside the principal's area, else a user error naming ``path``."""
    try:
        known = localities.is_known(code)
    except LocalityCodeError as exc:
        problems.add((path,), str(exc), "INVALID_LOCALITY")
        return None
    if not known:
        problems.add((path,), f"'{code}' is not under any configured locality", "UNKNOWN_LOCALITY")
        return None
    if not is_within(code, principal.scope):
        problems.add((path,), f"'{code}' is outside your area {principal.scope}", "OUT_OF_SCOPE")
        return None
    return str(code)


def protected_id_number(
    value: Any, path: str, vault: IdentityVault, today: date, problems: Problems
) -> dict[str, Any]:
    """The columns for an identity number (encrypted, hash, masked), or {} with a user error."""
    try:
        number = parse_id_number(str(value or ""), today=today).number
    except IdNumberError as exc:
        problems.add((path,), str(exc), "INVALID_ID_NUMBER")
        return {}
    return {
        "id_number_encrypted": vault.encrypt(number),
        "id_number_hash": vault.lookup_hash(number),
        "id_number_masked": mask_id_number(number),
    }
