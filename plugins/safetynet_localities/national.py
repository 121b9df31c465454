"""全国: national defaults every locality inherits until it sets its own (parameters in national.toml)."""

from pathlib import Path

from safetynet import hookimpl
from safetynet.rules import load_pack


@hookimpl
def safetynet_localities():
    return [load_pack(Path(__file__).with_name("national.toml"))]
