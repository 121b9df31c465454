"""张掖市 (620700, Gansu): monitoring and warning handling, 6-month gradual exit (seed 000)."""

from safetynet.rules import locality_plugin

safetynet_localities = locality_plugin(__file__, "zhangye.toml")
