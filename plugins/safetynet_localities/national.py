"""全国: national defaults every locality inherits until it sets its own."""

from safetynet.rules import locality_plugin

safetynet_localities = locality_plugin(__file__, "national.toml")
