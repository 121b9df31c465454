"""天津市 (120000): dibao, low-income family aid at 30%, tekun at 1.3x, 6-month gradual exit (seed 003)."""

from pathlib import Path

from safetynet import hookimpl
from safetynet.rules import load_pack


@hookimpl
def safetynet_localities():
    return [load_pack(Path(__file__).with_name("tianjin.toml"))]
