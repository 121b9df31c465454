"""User errors: bad input reported to the caller by field, with nothing written."""

from __future__ import annotations

import re
from dataclasses import dataclass, field


def camel(name: str) -> str:
    """``monthly_amount`` → ``monthlyAmount`` (field paths are reported in the API's spelling)."""
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


@dataclass(frozen=True)
class UserError:
    """One problem with the input: the path of the field, what is wrong and expected, and a stable code."""

    field: tuple[str, ...]
    message: str
    code: str


@dataclass
class InputErrors(Exception):
    """Raised by a service when the input has problems; the transaction is rolled back."""

    errors: list[UserError] = field(default_factory=list)

    def __str__(self) -> str:
        return "; ".join(f"{'.'.join(e.field)}: {e.message}" for e in self.errors)


class Problems:
    """Collects user errors while validating, then raises them all at once."""

    def __init__(self) -> None:
        self.errors: list[UserError] = []

    def add(self, path: tuple[str | int, ...], message: str, code: str = "INVALID") -> None:
        self.errors.append(UserError(tuple(camel(str(p)) for p in path), message, code))

    def raise_if_any(self) -> None:
        if self.errors:
            raise InputErrors(list(self.errors))


def fail(path: tuple[str | int, ...], message: str, code: str = "INVALID") -> InputErrors:
    problems = Problems()
    problems.add(path, message, code)
    return InputErrors(problems.errors)


CODE_PATTERN = re.compile(r"^[a-z][a-z0-9_.]{0,63}$")
