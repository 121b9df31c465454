"""河畔省 (990000): an outside locality pack, its numbers in riverside.toml beside this module."""

from pathlib import Path

from safetynet import hookimpl
from safetynet.rules import load_pack


@hookimpl
def safetynet_localities():
    return [load_pack(Path(__file__).with_name("riverside.toml"))]
