"""庆阳市 (621000, Gansu): monitoring platform, one aid chain, medical aid, 6-month gradual exit (seed 004)."""

from safetynet.rules import locality_plugin

safetynet_localities = locality_plugin(__file__, "qingyang.toml")
