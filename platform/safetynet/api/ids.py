"""Opaque global IDs (Relay style): base64 of ``Type:number``."""

from __future__ import annotations

import base64
import binascii

from safetynet.errors import fail


def encode(type_name: str, number: int) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{number}".encode()).decode().rstrip("=")


def decode(global_id: str) -> tuple[str, int] | None:
    """``(type name, number)``, or None when the id is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(global_id + "=" * (-len(global_id) % 4)).decode()
        type_name, number = raw.split(":", 1)
        return type_name, int(number)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def expect(global_id: str, type_name: str, *path: str | int) -> int:
    """The number inside a global id of ``type_name``, or a user error naming the field at ``path``."""
    decoded = decode(global_id)
    if decoded is None or decoded[0] != type_name:
        raise fail(path, f"is not the id of a {type_name}", "INVALID_ID")
    return decoded[1]
