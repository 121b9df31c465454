"""Assess every installed aid type for a batch of households, in dependency order."""

from __future__ import annotations

from safetynet.catalogue import Catalogue
from safetynet.model import LowIncomeCategory
from safetynet.rules import Assessment, HouseholdBatch, Parameters


class RuleError(RuntimeError):
    """An aid type's rule failed; the message names the aid type and its plugin."""


def assess_batch(catalogue: Catalogue, batch: HouseholdBatch) -> dict[str, Assessment]:
    """code → Assessment for every installed aid type (each rule called once for the whole batch)."""
    parameters = Parameters(catalogue.localities, batch.locality_code, batch.as_of)
    results: dict[str, Assessment] = {}
    for code in catalogue.assessment_order:
        provided = catalogue.aid_types[code]
        earlier = {d: results[d] for d in provided.item.depends_on if d in results}
        try:
            results[code] = provided.item.assess(batch, parameters, earlier)
        except LookupError as exc:
            raise RuleError(f"aid type '{code}' (plugin {provided.plugin}): {exc}") from exc
    return results


def categories_of(catalogue: Catalogue, results: dict[str, Assessment], i: int) -> list[LowIncomeCategory]:
    """The low-income categories household ``i`` falls in, from the aid types that decide a category."""
    found = {
        catalogue.aid_types[code].item.category
        for code, assessment in results.items()
        if catalogue.aid_types[code].item.category is not None and bool(assessment.eligible[i])
    }
    return [c for c in LowIncomeCategory if c in found]
