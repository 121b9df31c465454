"""疑似符合条件未纳入 — assessed eligible for basic-living aid or a low-income category, but not enrolled.

For each installed aid type of the basic-living tier or deciding a low-income category (dibao, tekun,
low-income family aid, marginal, rigid expense…): the household is assessed eligible and no aid of that
type is in force on its aid chain. Seeds 000 §6 and 004 §3.3: "对未纳入社会救助范围的低收入人口，重点监测
其是否符合相关救助条件，一旦符合救助条件的立即启动救助程序". The aid-type rules themselves keep the
alternatives apart (dibao is not assessed while tekun applies; marginal excludes dibao and tekun).

* YELLOW: eligible for a category or aid that is not basic-living cash (marginal, rigid expense).
* ORANGE: eligible for dibao or tekun (a category of basic-living aid) and not enrolled.
* RED: the household also has no income at all and no aid of any kind in force.

The warning names the first such aid type (in assessment order: the one to enrol in); the evidence
lists each, with the aid type's own reasons. Routed to civil affairs and each aid type's department.
"""

from __future__ import annotations

import numpy as np

from safetynet import hookimpl
from safetynet.model import AidTier, LowIncomeCategory, WarningLevel, WarningRule
from safetynet.rules import Detection, HouseholdBatch, Parameters, because, yuan

from ._common import (
    aid_types,
    assessments,
    departments_column,
    first_code,
    join_codes,
    level_codes,
    raise_where,
    reasons_of,
)

CODE = "likely_eligible_not_enrolled"
BASIC = (LowIncomeCategory.DIBAO, LowIncomeCategory.TEKUN)


def detect(households: HouseholdBatch, parameters: Parameters, context: dict) -> Detection:
    h = households
    n = len(h)
    catalogue = aid_types(context)
    results = assessments(context)
    watched = [
        code
        for code in results  # assessment order
        if code in catalogue
        and (catalogue[code].category is not None or catalogue[code].tier is AidTier.BASIC_LIVING)
        and catalogue[code].category is not LowIncomeCategory.RETURN_POVERTY_WATCH
    ]
    missing = []
    for code in watched:
        eligible = np.asarray(results[code].eligible, dtype=bool) & ~h.has_active_aid(code)
        if eligible.any():
            missing.append((code, eligible))
    raised = np.zeros(n, dtype=bool)
    basic = np.zeros(n, dtype=bool)
    evidence = []
    for code, mask in missing:
        aid = catalogue[code]
        raised |= mask
        if aid.category in BASIC:
            basic |= mask
        evidence.append(
            because(
                mask,
                "ELIGIBLE_NOT_ENROLLED",
                "assessed eligible for {name} ({aid}) but no {aid} aid is in force on the aid chain",
                name=aid.name,
                aid=code,
            )
        )
        amount = results[code].monthly_amount_fen
        if amount is not None:
            evidence.append(
                because(
                    mask & (amount > 0),
                    "ASSESSED_MONTHLY_AMOUNT",
                    "{aid}: assessed monthly amount {amount}",
                    aid=code,
                    amount=yuan(amount),
                )
            )
        evidence.extend(reasons_of(results[code], mask))
    any_aid = np.zeros(n, dtype=bool)
    for active in h.active_aid.values():
        any_aid |= active
    destitute = raised & basic & (h.monthly_income_fen == 0) & ~any_aid
    levels = level_codes(n, WarningLevel.YELLOW)
    levels = raise_where(levels, basic, WarningLevel.ORANGE)
    levels = raise_where(levels, destitute, WarningLevel.RED)
    evidence.append(
        because(
            destitute,
            "NO_INCOME_NO_AID",
            "the household has no income ({income} a month) and no aid of any kind in force",
            income=yuan(h.monthly_income_fen),
        )
    )
    return Detection(
        raised=raised,
        level=levels,
        aid_type_code=first_code(missing, n),
        departments=departments_column([(catalogue[code].department, mask) for code, mask in missing], n),
        basis=join_codes(missing, n),
        evidence=evidence,
    )


@hookimpl
def safetynet_warning_rules():
    return [
        WarningRule(
            code=CODE,
            name="疑似符合条件未纳入",
            level=WarningLevel.YELLOW,
            watches="assessed eligible for basic-living aid or a low-income category with no such aid in force; "
            "ORANGE for dibao or tekun, RED with no income and no aid at all",
            departments=("civil_affairs",),
            detect=detect,
        )
    ]
