"""近亲属备案 (seed 001 §4.3): staff register their near relatives, so favouritism (优亲厚友, "人情保、关系保")
cannot hide.

A civil-affairs worker or village cadre registers each near relative's identity number with their own
name, post and the locality they work in. Every household under that locality with a member of that
identity number is flagged (:mod:`safetynet.governance.flags`), and every aid decision for it raises a
warning (:mod:`safetynet.governance.decisions`). A registration is removed, never deleted: who removed
it, when and why stay on record.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from safetynet.errors import Problems, fail
from safetynet.households import Reader
from safetynet.identity import IdentityVault
from safetynet.principals import Principal
from safetynet.rules import LocalityRegistry, scope_prefix
from safetynet.store.models import NearRelative

from .people import check_writer, protected_id_number, read_locality, visible_in_register


class Kinship(StrEnum):
    """近亲属: the relative's relation to the staff member (Civil Code art. 1045, plus in-laws)."""

    SPOUSE = "SPOUSE"  # 配偶
    PARENT = "PARENT"  # 父母
    CHILD = "CHILD"  # 子女
    SIBLING = "SIBLING"  # 兄弟姐妹
    GRANDPARENT = "GRANDPARENT"  # 祖父母、外祖父母
    GRANDCHILD = "GRANDCHILD"  # 孙子女、外孙子女
    IN_LAW = "IN_LAW"  # 近姻亲
    OTHER = "OTHER"


def register_near_relative(
    session: Session,
    data: Mapping[str, Any],
    *,
    principal: Principal,
    localities: LocalityRegistry,
    vault: IdentityVault,
    today: date,
) -> NearRelative:
    """Register a staff member's near relative. The same relative of the same staff member in the same
    locality, while registered, is refused as a duplicate."""
    check_writer(principal, "register near relatives", "localityCode")
    problems = Problems()
    read = Reader(problems)
    identity = protected_id_number(data.get("id_number"), "idNumber", vault, today, problems)
    relative_name = read.text(data.get("relative_name"), ("relative_name",), limit=100)
    kinship = read.enum(data.get("kinship"), Kinship, ("kinship",))
    staff_name = read.text(data.get("staff_name"), ("staff_name",), limit=100)
    staff_post = read.text(data.get("staff_post"), ("staff_post",), limit=100)
    locality = read_locality(data.get("locality_code"), "localityCode", localities, principal, problems)
    problems.raise_if_any()
    duplicate = session.scalar(
        select(NearRelative.id).where(
            NearRelative.id_number_hash == identity["id_number_hash"],
            NearRelative.staff_name == staff_name,
            NearRelative.locality_code == locality,
            NearRelative.removed_at.is_(None),
        )
    )
    if duplicate is not None:
        raise fail(
            ("idNumber",),
            f"this relative of {staff_name} in {locality} is already registered (registration {duplicate})",
            "DUPLICATE",
        )
    row = NearRelative(
        **identity,
        relative_name=relative_name,
        kinship=kinship.value,
        staff_name=staff_name,
        staff_post=staff_post,
        locality_code=locality,
        locality_prefix=scope_prefix(str(locality)),
        registered_at=datetime.now(UTC),
        registered_by=principal.key_id,
    )
    session.add(row)
    session.flush()
    return row


def remove_near_relative(
    session: Session, registration_id: int, reason: Any, *, principal: Principal
) -> NearRelative:
    """End a registration (the staff member left the post, the relation ended…), with the reason."""
    check_writer(principal, "remove near-relative registrations", "id")
    row = session.scalar(
        select(NearRelative)
        .where(
            NearRelative.id == registration_id,
            visible_in_register(NearRelative.locality_code, principal),
        )
        .with_for_update()
    )
    if row is None:
        raise fail(("id",), "no near-relative registration with this id that you may see", "NOT_FOUND")
    problems = Problems()
    if row.removed_at is not None:
        problems.add(
            ("id",), f"this registration was already removed on {row.removed_at:%Y-%m-%d}", "ALREADY_REMOVED"
        )
    why = Reader(problems).text(reason, ("reason",), limit=2000)
    problems.raise_if_any()
    row.removed_at = datetime.now(UTC)
    row.removed_by = principal.key_id
    row.removal_reason = why
    session.flush()
    return row
