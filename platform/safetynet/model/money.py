"""Money: stored and computed as integer fen (分), shown as decimal yuan with two places. Never floats."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

FEN_PER_YUAN = 100
#: The largest amount accepted (一万亿元): anything larger is a typing mistake, and fen must fit 64 bits.
MAX_YUAN = Decimal(10**12)
_MAX_FEN = 10**12 * FEN_PER_YUAN
#: The common spelling, read without Decimal: digits, then at most two decimals ("780", "780.5", "780.50").
_PLAIN_YUAN = re.compile(r"([0-9]{1,13})(?:\.([0-9]{1,2}))?")


class MoneyError(ValueError):
    """A value that is not an amount of money in yuan."""


def plain_yuan_to_fen(text: str) -> int | None:
    """The common spelling read fast: ``"780.5"`` → ``78050``; None for anything else (ask
    :func:`yuan_to_fen`, which says what is wrong or reads the rest)."""
    plain = _PLAIN_YUAN.fullmatch(text)
    if plain is None:
        return None
    whole, cents = plain.groups()
    fen = int(whole) * FEN_PER_YUAN + (int(cents.ljust(2, "0")) if cents else 0)
    return fen if fen <= _MAX_FEN else None


def yuan_to_fen(value: Decimal | str | int, *, allow_negative: bool = False) -> int:
    """``"780.5"`` → ``78050``. Rejects non-numbers, more than two decimals and (by default) negatives."""
    fen = plain_yuan_to_fen(value.strip()) if isinstance(value, str) else None
    if fen is not None:
        return fen
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise MoneyError(
            f"'{value}' is not an amount in yuan; expected a number such as \"780.00\""
        ) from None
    if not amount.is_finite():
        raise MoneyError(f"'{value}' is not a finite amount in yuan")
    if abs(amount) > MAX_YUAN:
        raise MoneyError(f"'{value}' is too large; amounts are at most {MAX_YUAN:,} yuan")
    if amount.as_tuple().exponent < -2:  # type: ignore[operator]
        raise MoneyError(f"'{value}' has more than two decimal places (fen is the smallest unit)")
    if amount < 0 and not allow_negative:
        raise MoneyError(f"'{value}' is negative; amounts must be zero or more")
    return int(amount * FEN_PER_YUAN)


def fen_to_yuan(fen: int) -> Decimal:
    """``78050`` → ``Decimal("780.50")``."""
    return (Decimal(int(fen)) / FEN_PER_YUAN).quantize(Decimal("0.01"))


def format_yuan(fen: int) -> str:
    """``78050`` → ``"780.50"``, the wire form of the ``Decimal`` scalar."""
    return f"{fen_to_yuan(fen):.2f}"


def round_fen(value: float) -> int:
    """Round a computed fen value (e.g. standard × 1.5) half up to whole fen."""
    return int(Decimal(repr(float(value))).quantize(Decimal(1), rounding=ROUND_HALF_UP))
