"""Administrative codes (行政区划代码) and the hierarchy parameters are inherited along.

A code has 6 digits (province ``xx0000``, city ``xxxx00``, county), 9 (township, 乡镇/街道) or 12
(village or community, 村/社区). ``100000`` stands for the nation.
"""

from __future__ import annotations

import re

from safetynet.model import LocalityLevel

NATIONAL_CODE = "100000"
_CODE = re.compile(r"^(\d{6}|\d{9}|\d{12})$")


class LocalityCodeError(ValueError):
    """A string that is not a 6, 9 or 12 digit administrative code."""


def check_code(code: str) -> str:
    if not isinstance(code, str) or not _CODE.match(code):
        raise LocalityCodeError(
            f"'{code}' is not an administrative code: expected 6 digits (county and above), "
            "9 (township) or 12 (village)"
        )
    return code


def level_of(code: str) -> LocalityLevel:
    check_code(code)
    if code == NATIONAL_CODE:
        return LocalityLevel.NATIONAL
    if len(code) == 12:
        return LocalityLevel.VILLAGE
    if len(code) == 9:
        return LocalityLevel.TOWNSHIP
    if code.endswith("0000"):
        return LocalityLevel.PROVINCE
    if code.endswith("00"):
        return LocalityLevel.CITY
    return LocalityLevel.COUNTY


def ancestors(code: str) -> list[str]:
    """``code`` and every area above it, nearest first, ending with the nation.

    >>> ancestors("310105001")
    ['310105001', '310105', '310100', '310000', '100000']
    """
    check_code(code)
    chain = [code]
    if len(code) == 12:
        chain.append(code[:9])
    if len(code) >= 9:
        chain.append(code[:6])
    county = code[:6]
    for candidate in (county[:4] + "00", county[:2] + "0000", NATIONAL_CODE):
        if candidate != chain[-1]:
            chain.append(candidate)
    return chain


def is_within(code: str, scope: str) -> bool:
    """Whether ``code`` lies in the area ``scope`` (the nation contains everything)."""
    return scope == NATIONAL_CODE or scope in ancestors(code)


def scope_prefix(scope: str) -> str:
    """The code prefix every locality inside ``scope`` starts with (``310100`` → ``3101``)."""
    level = level_of(scope)
    return {
        LocalityLevel.NATIONAL: "",
        LocalityLevel.PROVINCE: scope[:2],
        LocalityLevel.CITY: scope[:4],
    }.get(level, scope)
