"""A household through every layer: register over GraphQL, read it back, assess dibao, grant and end aid."""

from conftest import income, person, register


async def test_register_assess_and_aid_chain(gql, admin_key):
    members = [person(monthlyIncomes=income("1800.00")), person("SPOUSE"), person("CHILD")]
    household = await register(gql, admin_key, members=members)
    data = await gql.ok(
        """query($id: ID!) { household(id: $id) {
             perCapitaMonthlyIncome
             assessments { aidType { code } eligible monthlyAmount reasons { code message parameters { name localityCode value } } }
             categories
           } }""",
        {"id": household["id"]},
        key=admin_key,
    )
    h = data["household"]
    assert h["perCapitaMonthlyIncome"] == "600.00"
    dibao = next(a for a in h["assessments"] if a["aidType"]["code"] == "dibao")
    assert dibao["eligible"] is True
    assert dibao["monthlyAmount"] == "1230.00"  # (1010 − 600) × 3 under Tianjin's illustrative standard
    assert dibao["reasons"][0]["parameters"][0] == {
        "name": "dibao.standard.urban", "localityCode": "120000", "value": "1010.00"
    }
    assert h["categories"] == ["DIBAO"]
