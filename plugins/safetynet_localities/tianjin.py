"""天津市 (120000): dibao, low-income family aid at 30%, tekun at 1.3x, 6-month gradual exit (seed 003)."""

from safetynet.rules import locality_plugin

safetynet_localities = locality_plugin(__file__, "tianjin.toml")
