"""Charities and community foundations (慈善组织、社区基金会), read from configuration.

``SAFETYNET_CHARITIES`` names a TOML file with any number of ``[[charity]]`` entries (code, names, kind,
need types, localities and a ``[[charity.resource]]`` list); without it the bundled example
``charities.toml`` beside this module is used. A file that cannot be read stops start-up with a message
naming the file, the entry and the field.

Matching (``safetynet_match_need``) scores each charity by need type, distance in the administrative
tree between the listing's township and the charity's area, the listing's urgency and the resource the
charity has left (see :mod:`safetynet_partners.scoring`): seed 001 §6.1 asks that needs be matched to
charitable supply "在政策、对象、信息、资源等方面".
"""

from __future__ import annotations

import os
import re
import tomllib
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

from safetynet import hookimpl
from safetynet.model import MoneyError, Partner, PartnerKind, Resource, yuan_to_fen
from safetynet.rules import LocalityCodeError, check_code

from .scoring import match_own

SETTING = "SAFETYNET_CHARITIES"
EXAMPLE = Path(__file__).with_name("charities.toml")
KINDS = (PartnerKind.CHARITY, PartnerKind.COMMUNITY_FOUNDATION)
_CODE = re.compile(r"^[a-z][a-z0-9_.]{0,63}$")


class CharityConfigError(ValueError):
    """A charities file that cannot be used; the message names the file, the entry and the field."""


def config_path() -> Path:
    return Path(os.environ.get(SETTING) or EXAMPLE)


@lru_cache(maxsize=8)
def load_charities(path: Path) -> tuple[Partner, ...]:
    """The charities of a TOML file (cached per path: read once per process)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CharityConfigError(f"{SETTING}: {path} does not exist") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CharityConfigError(f"{path}: cannot be read as TOML: {exc}") from None
    entries = data.get("charity", [])
    if not isinstance(entries, list):
        raise CharityConfigError(f"{path}: 'charity' must be an array of tables ([[charity]])")
    charities = [_charity(path, i, entry) for i, entry in enumerate(entries)]
    codes = [c.code for c in charities]
    for code in codes:
        if codes.count(code) > 1:
            raise CharityConfigError(f"{path}: charity code '{code}' is used twice")
    return tuple(charities)


def _charity(path: Path, index: int, entry: Any) -> Partner:
    where = f"{path}: charity #{index + 1}"
    if not isinstance(entry, dict):
        raise CharityConfigError(f"{where} must be a table")
    where = f"{where} ({entry.get('code', '?')})"
    code = _code(entry.get("code"), f"{where}: code")
    name = _text(entry, "name", where)
    name_en = _text(entry, "name_en", where)
    try:
        kind = PartnerKind[str(entry.get("kind", "CHARITY"))]
    except KeyError:
        kind = None
    if kind not in KINDS:
        raise CharityConfigError(
            f"{where}: kind must be CHARITY or COMMUNITY_FOUNDATION, not {entry.get('kind')!r}"
        )
    need_types = _codes(entry.get("need_types"), f"{where}: need_types")
    localities = entry.get("localities")
    if not isinstance(localities, list) or not localities:
        raise CharityConfigError(f"{where}: localities must be a non-empty list of area codes")
    for locality in localities:
        try:
            check_code(locality)
        except LocalityCodeError as exc:
            raise CharityConfigError(f"{where}: localities: {exc}") from None
    resources = entry.get("resource", [])
    if not isinstance(resources, list):
        raise CharityConfigError(f"{where}: resource must be an array of tables ([[charity.resource]])")
    return Partner(
        code=code,
        name=name,
        name_en=name_en,
        kind=kind,
        need_types=need_types,
        localities=tuple(localities),
        resources=tuple(
            _resource(f"{where}: resource #{j + 1}", r, need_types) for j, r in enumerate(resources)
        ),
    )


def _resource(where: str, entry: Any, need_types: tuple[str, ...]) -> Resource:
    if not isinstance(entry, dict):
        raise CharityConfigError(f"{where} must be a table")
    need_type = entry.get("need_type")
    if need_type not in need_types:
        raise CharityConfigError(f"{where}: need_type {need_type!r} is not one of the charity's need_types")
    amount = entry.get("amount")
    try:
        amount_fen = None if amount is None else yuan_to_fen(amount)
    except MoneyError as exc:
        raise CharityConfigError(f"{where}: amount: {exc}") from None
    quantity = entry.get("quantity")
    if quantity is not None and (not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 0):
        raise CharityConfigError(f"{where}: quantity must be a whole number, zero or more")
    until = entry.get("available_until")
    if until is not None and not isinstance(until, date):
        raise CharityConfigError(f"{where}: available_until must be a TOML date such as 2027-12-31")
    return Resource(
        code=_code(entry.get("code"), f"{where}: code"),
        name=_text(entry, "name", where),
        need_type=need_type,
        amount_fen=amount_fen,
        quantity=quantity,
        available_until=until,
    )


def _code(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _CODE.match(value):
        raise CharityConfigError(f"{where}: {value!r} is not a code (lower case letters, digits, _ and .)")
    return value


def _codes(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise CharityConfigError(f"{where}: must be a non-empty list of need-type codes")
    return tuple(_code(v, where) for v in value)


def _text(entry: dict[str, Any], key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise CharityConfigError(f"{where}: {key} is required")
    return value.strip()


_provided: set[str] = set()  # the codes this process's catalogue took from the file


@hookimpl
def safetynet_partners():
    charities = load_charities(config_path())
    _provided.clear()
    _provided.update(c.code for c in charities)
    return list(charities)


@hookimpl
def safetynet_match_need(need, partners):
    return match_own(need, partners, _provided or {c.code for c in load_charities(config_path())})
