"""永宁县 (640121, Ningxia): single-person dibao, up to 18-month gradual exit, tekun minors to 18 (seed 002)."""

from safetynet.rules import locality_plugin

safetynet_localities = locality_plugin(__file__, "yongning.toml")
