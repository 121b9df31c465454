"""长宁区 (310105) under 上海市 (310000): four circles, 500-yuan small advance, 20/45 working days (seed 001)."""

from safetynet.rules import locality_plugin

safetynet_localities = locality_plugin(__file__, "shanghai.toml", "changning.toml")
