"""The plugin manager: outside plugins and plugin directories work like built-ins; anything wrong with a
plugin stops start-up with a message naming it; plugins can be disabled; GraphQL contributions merge."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import strawberry
from strawberry.types import Info

from conftest import GraphQL, person, register
from outside_plugin import stove
from safetynet import hookimpl
from safetynet.app import create_app
from safetynet.governance.decisions import CORE_GOVERNANCE
from safetynet.model import AidTier, AidType, GraphQLContribution, Role
from safetynet.plugins import PluginLoadError
from safetynet.principals import create_key
from safetynet.rules import Assessment

ASSESSMENTS = """query($id: ID!) { household(id: $id) { assessments {
  aidType { code plugin } eligible monthlyAmount
  reasons { code message parameters { name localityCode value } } } } }"""


@contextlib.asynccontextmanager
async def api(runtime) -> AsyncIterator[tuple[GraphQL, str]]:
    """A GraphQL client against ``runtime``'s app, with an admin key."""
    admin = runtime.database.run(lambda s: create_key(s, Role.ADMIN))
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield GraphQL(client), admin
    await runtime.database.async_engine.dispose()


def aid_type(code: str) -> AidType:
    def assess(households, parameters, earlier) -> Assessment:  # type: ignore[no-untyped-def]
        return Assessment(eligible=households.urban, reasons=[])

    return AidType(
        code=code, name=code, name_en=code, tier=AidTier.OTHER, department="civil_affairs", assess=assess
    )


class Provides:
    """An outside plugin object providing the given aid type codes."""

    def __init__(self, *codes: str) -> None:
        self.codes = codes

    @hookimpl
    def safetynet_aid_types(self):  # type: ignore[no-untyped-def]
        return [aid_type(code) for code in self.codes]


async def test_outside_plugin_adds_an_aid_type_to_catalogue_and_assessments(make_runtime):
    runtime = make_runtime(extra_plugins=[stove])
    async with api(runtime) as (gql, admin):
        catalogue = await gql.ok(
            "{ aidTypes { code name nameEn tier department plugin } plugins { name hooks } }", key=admin
        )
        assert {
            "code": "stove_subsidy",
            "name": "炉具补贴",
            "nameEn": "Stove subsidy",
            "tier": "OTHER",
            "department": "civil_affairs",
            "plugin": "outside_plugin.stove",
        } in catalogue["aidTypes"]
        assert {"name": "outside_plugin.stove", "hooks": ["safetynet_aid_types"]} in catalogue["plugins"]
        assert "dibao" in {a["code"] for a in catalogue["aidTypes"]}  # alongside the built-ins

        urban = await register(gql, admin, residence="URBAN")
        rural = await register(gql, admin, residence="RURAL", members=[person()])
        found = {}
        for name, household in (("urban", urban), ("rural", rural)):
            assessments = (await gql.ok(ASSESSMENTS, {"id": household["id"]}, key=admin))["household"][
                "assessments"
            ]
            found[name] = next(a for a in assessments if a["aidType"]["code"] == "stove_subsidy")
        assert found["urban"] == {
            "aidType": {"code": "stove_subsidy", "plugin": "outside_plugin.stove"},
            "eligible": True,
            "monthlyAmount": "101.00",
            "reasons": [
                {
                    "code": "URBAN_HEATING",
                    "message": "urban household: a tenth of 1010.00 is 101.00",
                    "parameters": [
                        {"name": "dibao.standard.urban", "localityCode": "120000", "value": "1010.00"}
                    ],
                }
            ],
        }
        assert found["rural"]["eligible"] is False and found["rural"]["monthlyAmount"] == "0.00"
        assert [r["code"] for r in found["rural"]["reasons"]] == ["RURAL_OWN_FUEL"]

        # The core records aid of the new type on the aid chain like any other.
        granted = await gql.ok(
            """mutation($id: ID!) { grantAid(input: {householdId: $id, aidTypeCode: "stove_subsidy",
                 startedOn: "2024-11-01", monthlyAmount: "101.00"}) {
                 aidRecord { aidTypeCode } userErrors { code } } }""",
            {"id": urban["id"]},
            key=admin,
        )
        assert granted["grantAid"] == {"aidRecord": {"aidTypeCode": "stove_subsidy"}, "userErrors": []}


async def test_plugin_directory_loads_each_python_file(make_runtime, tmp_path: Path):
    (tmp_path / "winter_coal.py").write_text(
        "from safetynet import hookimpl\n"
        "from safetynet.model import AidTier, AidType\n"
        "from safetynet.rules import Assessment, because\n\n"
        "def assess(households, parameters, earlier):\n"
        "    rural = ~households.urban\n"
        "    return Assessment(eligible=rural, reasons=[because(rural, 'RURAL', 'coal for rural homes')])\n\n"
        "@hookimpl\n"
        "def safetynet_aid_types():\n"
        "    return [AidType(code='winter_coal', name='冬季煤炭', name_en='Winter coal', tier=AidTier.OTHER,\n"
        "                    department='civil_affairs', assess=assess)]\n",
        encoding="utf-8",
    )
    (tmp_path / "README.txt").write_text("not a plugin")
    runtime = make_runtime(plugins_dir=str(tmp_path))
    async with api(runtime) as (gql, admin):
        aid_types = (await gql.ok("{ aidTypes { code plugin } }", key=admin))["aidTypes"]
        assert {"code": "winter_coal", "plugin": "dir:winter_coal"} in aid_types
        household = await register(gql, admin, residence="RURAL")
        assessments = (await gql.ok(ASSESSMENTS, {"id": household["id"]}, key=admin))["household"][
            "assessments"
        ]
        coal = next(a for a in assessments if a["aidType"]["code"] == "winter_coal")
        assert coal["eligible"] is True and coal["reasons"][0]["message"] == "coal for rural homes"


def test_a_plugin_that_fails_to_import_stops_start_up_naming_it(make_runtime, tmp_path: Path):
    (tmp_path / "county_secrets.py").write_text("import safetynet_no_such_module\n")
    with pytest.raises(PluginLoadError, match=r"county_secrets\.py failed to load: ModuleNotFoundError"):
        make_runtime(plugins_dir=str(tmp_path))


def test_a_plugin_whose_catalogue_hook_raises_stops_start_up_naming_it(make_runtime):
    class Broken:
        @hookimpl
        def safetynet_aid_types(self):  # type: ignore[no-untyped-def]
            raise RuntimeError("pack file missing")

    with pytest.raises(
        PluginLoadError, match=r"plugin 'Broken' failed in safetynet_aid_types: .*pack file missing"
    ):
        make_runtime(extra_plugins=[Broken()])


def test_a_misspelled_hook_is_rejected(make_runtime):
    class Misspelled:
        @hookimpl
        def safetynet_aid_type(self):  # type: ignore[no-untyped-def]  # the hook is safetynet_aid_types
            return []

    with pytest.raises(PluginLoadError) as caught:
        make_runtime(extra_plugins=[Misspelled()])
    message = str(caught.value)
    assert "safetynet_aid_type" in message and "Misspelled" in message
    assert "matches no hook in safetynet.hookspecs" in message


def test_two_plugins_providing_one_aid_type_code_is_an_error_naming_both(make_runtime):
    with pytest.raises(
        PluginLoadError,
        match=re.escape("aid type 'dibao' is provided by both plugin 'aid.dibao' and plugin 'Provides'"),
    ):
        make_runtime(extra_plugins=[Provides("dibao")])

    class Again(Provides):
        pass

    with pytest.raises(
        PluginLoadError,
        match=re.escape(
            "aid type 'stove_subsidy' is provided by both plugin 'outside_plugin.stove' and plugin 'Again'"
        ),
    ):
        make_runtime(extra_plugins=[stove, Again("stove_subsidy")])


async def test_disabling_a_plugin_removes_its_aid_type(make_runtime):
    runtime = make_runtime(disabled_plugins=("aid.dibao",), extra_plugins=[stove])
    async with api(runtime) as (gql, admin):
        data = await gql.ok("{ aidTypes { code } plugins { name } }", key=admin)
        assert "dibao" not in {a["code"] for a in data["aidTypes"]}
        assert "aid.dibao" not in {p["name"] for p in data["plugins"]}
        assert "locality.tianjin" in {p["name"] for p in data["plugins"]}
        household = await register(gql, admin)
        assessments = (await gql.ok(ASSESSMENTS, {"id": household["id"]}, key=admin))["household"][
            "assessments"
        ]
        codes = [a["aidType"]["code"] for a in assessments]
        assert "dibao" not in codes and "stove_subsidy" in codes
        refused = await gql.ok(
            """mutation($id: ID!) { grantAid(input: {householdId: $id, aidTypeCode: "dibao",
                 startedOn: "2024-01-01", monthlyAmount: "1.00"}) { userErrors { field code } } }""",
            {"id": household["id"]},
            key=admin,
        )
        assert refused["grantAid"]["userErrors"] == [{"field": ["aidTypeCode"], "code": "UNKNOWN"}]


def test_an_allow_list_loads_only_the_plugins_named(make_runtime):
    runtime = make_runtime(allowed_plugins=("locality.national", "locality.tianjin"))
    assert {name for name, _ in runtime.plugins.list_name_plugin()} == {
        "locality.national",
        "locality.tianjin",
        CORE_GOVERNANCE,  # the core's own hook implementations are not plugins: always there
    }
    assert runtime.catalogue.aid_types == {}


@pytest.mark.parametrize("setting", ["disabled_plugins", "allowed_plugins"])
def test_naming_an_unknown_plugin_fails_naming_it(make_runtime, setting):
    with pytest.raises(
        PluginLoadError, match=r"no installed plugin is called 'aid\.heating_oil'; installed: .*aid\.dibao"
    ):
        make_runtime(**{setting: ("aid.heating_oil",)})


@strawberry.type
class WeatherQuery:
    @strawberry.field(description="Heating season of a locality")
    def heating_season(self, info: Info, locality_code: str) -> str:
        return f"{locality_code}: 11-15 to 03-15 (asked by {info.context.me.role.name})"


class Weather:
    @hookimpl
    def safetynet_graphql(self):  # type: ignore[no-untyped-def]
        return [GraphQLContribution(query=(WeatherQuery,))]


async def test_a_graphql_contribution_adds_a_query_field(make_runtime):
    runtime = make_runtime(extra_plugins=[Weather()])
    async with api(runtime) as (gql, admin):
        data = await gql.ok('{ heatingSeason(localityCode: "120000") health }', key=admin)
        assert data == {"heatingSeason": "120000: 11-15 to 03-15 (asked by ADMIN)", "health": "ok"}
        refused = await gql('{ heatingSeason(localityCode: "120000") }')  # plugin fields need a key too
        assert refused["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


@strawberry.type
class ShadowsHealth:
    @strawberry.field
    def health(self) -> str:
        return "mine"


class Shadow:
    @hookimpl
    def safetynet_graphql(self):  # type: ignore[no-untyped-def]
        return [GraphQLContribution(query=(ShadowsHealth,))]


def test_a_contribution_colliding_with_a_core_field_is_an_error_naming_the_plugin(make_runtime):
    runtime = make_runtime(extra_plugins=[Shadow()])
    with pytest.raises(
        PluginLoadError,
        match=re.escape("GraphQL field Query.health is defined by both the core and plugin Shadow"),
    ):
        create_app(runtime)


def test_two_contributions_of_one_field_are_an_error_naming_both(make_runtime):
    class OtherWeather(Weather):
        pass

    runtime = make_runtime(extra_plugins=[Weather(), OtherWeather()])
    with pytest.raises(
        PluginLoadError,
        match=re.escape("Query.heating_season is defined by both plugin Weather and plugin OtherWeather"),
    ):
        create_app(runtime)
