"""Resident identity numbers (居民身份证号码, GB 11643-1999) and their protection as personal data.

An identity number has 18 characters: a 6-digit region code (行政区划代码), an 8-digit birth date
(出生日期码, YYYYMMDD), a 3-digit order code (顺序码, odd for men, even for women) and a check digit
(校验码, ISO 7064 MOD 11-2, where 10 is written ``X``).

Numbers are never stored in the clear: :class:`IdentityVault` encrypts them with AES-256-GCM and makes a
keyed hash (HMAC-SHA256) to look records up by number. Logs and screens show :func:`mask_id_number`.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from operator import mul

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from safetynet.model import Sex

ID_LENGTH = 18
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"
_ZERO_WEIGHT = ord("0") * sum(_WEIGHTS)
_DIGITS = frozenset("0123456789")
_EARLIEST_BIRTH_YEAR = 1900
_SEQUENCES = 500  # 3-digit order codes 000–999, half for each sex

SECRET_KEY_SETTING = "SAFETYNET_SECRET_KEY"
_BLOB_VERSION = 1
_KEY_ID_LENGTH = 4
_NONCE_LENGTH = 12
_HEADER_LENGTH = 1 + _KEY_ID_LENGTH
_TAG_LENGTH = 16
_ENCRYPTION_INFO = b"safetynet identity-number encryption v1"
_LOOKUP_INFO = b"safetynet identity-number lookup hash v1"


class IdNumberError(ValueError):
    """A value that is not a valid resident identity number."""


def _is_digits(value: str) -> bool:
    """ASCII digits only (``str.isdigit`` alone also accepts full-width and other Unicode digits)."""
    return value.isascii() and value.isdigit()


def _normalise(value: str) -> str:
    """Strip surrounding whitespace and upper-case a trailing ``x``."""
    number = value.strip()
    return number[:-1] + "X" if number.endswith("x") else number


def check_digit(first17: str) -> str:
    """The check digit (校验码) for the first 17 digits: one of ``0``–``9`` or ``X``."""
    if len(first17) != ID_LENGTH - 1 or not _is_digits(first17):
        raise IdNumberError(f"check digit needs the first 17 digits of an identity number, got '{first17}'")
    total = sum(map(mul, first17.encode(), _WEIGHTS)) - _ZERO_WEIGHT  # ASCII codes minus 48 × each weight
    return _CHECK_CHARS[total % 11]


@dataclass(frozen=True)
class IdNumber:
    """A validated identity number and what it says about its holder. ``repr`` leaves the number out."""

    number: str = field(repr=False)
    region_code: str
    birth_date: date
    sex: Sex


def _check_birth_date(birth_date: date, today: date) -> None:
    if birth_date.year < _EARLIEST_BIRTH_YEAR:
        raise IdNumberError(f"birth date {birth_date.isoformat()} is before {_EARLIEST_BIRTH_YEAR}")
    if birth_date > today:
        raise IdNumberError(f"birth date {birth_date.isoformat()} is in the future")


def check_id_number(value: str, *, today: date | None = None) -> str:
    """Validate an identity number (length, digits, birth date, check digit); the normalised number.

    ``today`` (default: the current date) is the latest acceptable birth date.
    """
    number = _normalise(value)
    if len(number) != ID_LENGTH:
        raise IdNumberError(f"identity number must have {ID_LENGTH} characters, got {len(number)}")
    if not _is_digits(number[:17]) or not (_is_digits(number[17]) or number[17] == "X"):
        for position, char in enumerate(number, start=1):
            if char not in _DIGITS and not (position == ID_LENGTH and char == "X"):
                raise IdNumberError(
                    f"identity number must be 17 digits followed by a digit or 'X', got '{char}' at position {position}"
                )
    birth_code = number[6:14]
    try:
        birth_date = date(int(birth_code[:4]), int(birth_code[4:6]), int(birth_code[6:]))
    except ValueError:
        raise IdNumberError(f"identity number has an invalid birth date {birth_code}") from None
    _check_birth_date(birth_date, today or date.today())
    expected = check_digit(number[:17])
    if number[17] != expected:
        raise IdNumberError(f"identity number check digit should be '{expected}', got '{number[17]}'")
    return number


_WEIGHT_VECTOR = np.array(_WEIGHTS, dtype=np.int64)
_CHECK_CODES = np.frombuffer(_CHECK_CHARS.encode(), dtype=np.uint8)
_MONTH_DAYS = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


def valid_id_numbers(numbers: Sequence[str], *, today: date | None = None) -> np.ndarray:
    """Per number, whether :func:`check_id_number` would accept it unchanged (a whole column at once).

    True only for numbers already normalised (18 ASCII characters, an upper-case ``X``) that pass every
    check; False means "not known to be valid": ask :func:`check_id_number`, which says why or
    normalises (a lower-case ``x``, surrounding spaces).
    """
    fits = np.array([n.__class__ is str and len(n) == ID_LENGTH and n.isascii() for n in numbers], dtype=bool)
    valid = np.zeros(len(numbers), dtype=bool)
    if not fits.any():
        return valid
    text = "".join(n for n, ok in zip(numbers, fits, strict=True) if ok).encode("ascii")
    chars = np.frombuffer(text, dtype=np.uint8).reshape(-1, ID_LENGTH)
    digits = chars[:, :17].astype(np.int64) - ord("0")
    ok = ((digits >= 0) & (digits <= 9)).all(axis=1)
    ok &= chars[:, 17] == _CHECK_CODES[(digits @ _WEIGHT_VECTOR) % 11]
    year = digits[:, 6:10] @ np.array([1000, 100, 10, 1])
    month = digits[:, 10] * 10 + digits[:, 11]
    day = digits[:, 12] * 10 + digits[:, 13]
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    in_month = _MONTH_DAYS[np.clip(month, 1, 12) - 1] + ((month == 2) & leap)
    ok &= (month >= 1) & (month <= 12) & (day >= 1) & (day <= in_month) & (year >= _EARLIEST_BIRTH_YEAR)
    today = today or date.today()
    ok &= year * 10_000 + month * 100 + day <= today.year * 10_000 + today.month * 100 + today.day
    valid[fits] = ok
    return valid


def parse_id_number(value: str, *, today: date | None = None) -> IdNumber:
    """Validate an identity number (:func:`check_id_number`) and read its fields."""
    number = check_id_number(value, today=today)
    birth_date = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    sex = Sex.MALE if int(number[16]) % 2 else Sex.FEMALE
    return IdNumber(number=number, region_code=number[:6], birth_date=birth_date, sex=sex)


def make_id_number(region_code: str, birth_date: date, sequence: int, sex: Sex) -> str:
    """Build a valid identity number, for synthetic data and tests.

    ``sequence`` (0–499) picks the order code (顺序码) ``2 × sequence + 1`` for men, ``2 × sequence`` for women.
    The birth date must pass :func:`parse_id_number` today.
    """
    if len(region_code) != 6 or not _is_digits(region_code):
        raise IdNumberError(f"region code must be 6 digits, got '{region_code}'")
    if not 0 <= sequence < _SEQUENCES:
        raise IdNumberError(f"sequence must be between 0 and {_SEQUENCES - 1}, got {sequence}")
    _check_birth_date(birth_date, date.today())
    order = 2 * sequence + (1 if sex is Sex.MALE else 0)
    first17 = f"{region_code}{birth_date:%Y%m%d}{order:03d}"
    return first17 + check_digit(first17)


def mask_id_number(number: str) -> str:
    """``"11010519491231002X"`` → ``"110105********002X"``: region code and last four characters only."""
    normalised = _normalise(number)
    if len(normalised) != ID_LENGTH:
        raise IdNumberError(f"identity number must have {ID_LENGTH} characters, got {len(normalised)}")
    return normalised[:6] + "*" * 8 + normalised[-4:]


@dataclass(frozen=True)
class _VaultKey:
    """The keys derived from one secret."""

    key_id: bytes
    cipher: AESGCM
    mac_key: bytes


def _derive(secret: str, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret.encode())


def _vault_key(secret: str) -> _VaultKey:
    encryption_key = _derive(secret, _ENCRYPTION_INFO)
    return _VaultKey(
        key_id=hashlib.sha256(encryption_key).digest()[:_KEY_ID_LENGTH],
        cipher=AESGCM(encryption_key),
        mac_key=_derive(secret, _LOOKUP_INFO),
    )


class IdentityVault:
    """Encrypts identity numbers at rest and hashes them for lookups (密文存储 + 检索哈希).

    ``keys[0]`` is the current secret, used for all new encryptions; later secrets are older ones still
    accepted for decryption while stored data is re-encrypted (``safetynet keys rotate-identity``).
    ``lookup_secret`` keys the lookup hash (default: the current secret); it is kept across rotations so
    that stored hashes, including those of department records for people not yet registered, still
    match. Secrets should be long random strings. Encrypted form: 1-byte version, 4-byte key id, 12-byte
    nonce, AES-256-GCM ciphertext and tag; the version and key id are authenticated too.
    """

    def __init__(self, keys: Sequence[str], lookup_secret: str | None = None) -> None:
        if isinstance(keys, str):
            raise TypeError(
                "IdentityVault takes a list of secrets; use IdentityVault.from_setting for a string"
            )
        if not keys:
            raise ValueError(f"IdentityVault needs at least one secret ({SECRET_KEY_SETTING} is empty)")
        if any(not secret.strip() for secret in keys):
            raise ValueError(
                f"{SECRET_KEY_SETTING} has an empty secret; expected 'newkey' or 'newkey,oldkey'"
            )
        derived = [_vault_key(secret) for secret in keys]
        self._current = derived[0]
        self._by_id = {key.key_id: key for key in derived}
        self._mac_key = _derive(lookup_secret, _LOOKUP_INFO) if lookup_secret else derived[0].mac_key

    @classmethod
    def from_setting(cls, value: str | None, lookup_secret: str | None = None) -> IdentityVault:
        """A vault from the ``SAFETYNET_SECRET_KEY`` setting: ``"newkey,oldkey"`` (current secret first),
        and ``SAFETYNET_LOOKUP_KEY`` for the lookup hash."""
        if value is None or not value.strip():
            raise ValueError(
                f"{SECRET_KEY_SETTING} is not set; set it to a secret, or 'newkey,oldkey' when rotating"
            )
        return cls([secret.strip() for secret in value.split(",")], lookup_secret)

    @property
    def current_key_id(self) -> str:
        """The id (hex) of the key new encryptions use, as stored in each encrypted value."""
        return self._current.key_id.hex()

    @staticmethod
    def key_id_of(blob: bytes) -> str:
        """The id (hex) of the key that encrypted ``blob``."""
        return blob[1:_HEADER_LENGTH].hex()

    def encrypt(self, number: str) -> bytes:
        """Encrypt a (normalised) identity number under the current secret, with a fresh random nonce."""
        header = bytes([_BLOB_VERSION]) + self._current.key_id
        nonce = os.urandom(_NONCE_LENGTH)
        return header + nonce + self._current.cipher.encrypt(nonce, _normalise(number).encode(), header)

    def decrypt(self, blob: bytes) -> str:
        """The identity number in ``blob``, decrypted with whichever configured secret encrypted it."""
        key = self._key_for(blob)
        nonce = blob[_HEADER_LENGTH : _HEADER_LENGTH + _NONCE_LENGTH]
        try:
            plaintext = key.cipher.decrypt(
                nonce, blob[_HEADER_LENGTH + _NONCE_LENGTH :], blob[:_HEADER_LENGTH]
            )
        except InvalidTag:
            raise ValueError(
                "encrypted identity number failed authentication; it was altered or corrupted"
            ) from None
        return plaintext.decode()

    def lookup_hash(self, number: str) -> str:
        """Hex HMAC-SHA256 of the normalised number under the lookup secret; equal numbers hash equally."""
        return self.lookup_hashes([_normalise(number)])[0]

    def lookup_hashes(self, numbers: Sequence[str]) -> list[str]:
        """:meth:`lookup_hash` of numbers already normalised (e.g. by :func:`check_id_number`)."""
        key, digest = self._mac_key, hmac.digest
        return [digest(key, number.encode(), "sha256").hex() for number in numbers]

    def needs_rotation(self, blob: bytes) -> bool:
        """Whether ``blob`` was encrypted under an older secret; if so, store ``encrypt(decrypt(blob))``.

        The lookup hash does not change with the encryption secret when ``lookup_secret`` is kept.
        """
        self._check_header(blob)
        return blob[1:_HEADER_LENGTH] != self._current.key_id

    def _check_header(self, blob: bytes) -> None:
        minimum = _HEADER_LENGTH + _NONCE_LENGTH + _TAG_LENGTH
        if len(blob) < minimum:
            raise ValueError(
                f"encrypted identity number is too short: {len(blob)} bytes, expected at least {minimum}"
            )
        if blob[0] != _BLOB_VERSION:
            raise ValueError(
                f"encrypted identity number has format version {blob[0]}, expected {_BLOB_VERSION}"
            )

    def _key_for(self, blob: bytes) -> _VaultKey:
        self._check_header(blob)
        key = self._by_id.get(blob[1:_HEADER_LENGTH])
        if key is None:
            raise ValueError(
                f"identity number was encrypted with a key (id {blob[1:_HEADER_LENGTH].hex()}) that is not configured; "
                f"add the old key to {SECRET_KEY_SETTING}'s rotation list ('newkey,oldkey')"
            )
        return key
