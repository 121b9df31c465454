"""Mutations that write: the payload with the object written, or with the user errors (API.md)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from safetynet.errors import InputErrors

from .context import Context
from .types import UserError

P = TypeVar("P")
R = TypeVar("R")


def user_errors(exc: InputErrors) -> list[UserError]:
    return [UserError(field=list(e.field), message=e.message, code=e.code) for e in exc.errors]


async def written(ctx: Context, payload: Callable[..., P], field: str, work: Callable[[Session], Any]) -> P:
    """Run ``work`` in one transaction: ``payload`` with ``field`` set to what it returns, or, when it
    raised :class:`InputErrors` (nothing is written), with the user errors."""
    try:
        value = await ctx.write(work)
    except InputErrors as exc:
        return payload(**{field: None, "user_errors": user_errors(exc)})
    return payload(**{field: value, "user_errors": []})


def registered(ctx: Context, session: Session, register: Callable[..., R], data: Mapping[str, Any]) -> R:
    """Call a registering service (a household, a near relative, a dishonesty record) for this request:
    its principal, the localities, the identity vault and today."""
    runtime = ctx.runtime
    return register(
        session,
        data,
        principal=ctx.me,
        localities=runtime.localities,
        vault=runtime.vault,
        today=runtime.today(),
    )
