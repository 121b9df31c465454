"""Parameters by locality and date, columnar household batches, and vectorised results with explanations.

Plugins use these to write rules: see ``plugins/safetynet_aid/dibao.py`` for a complete example.
"""

from .assessment import Assessment, Because, Detection, Yuan, because, yuan
from .batch import EARNED_INCOME, SELF_CARE_INDICATORS, HouseholdBatch, MemberColumns, is_any, self_care_level
from .hierarchy import (
    NATIONAL_CODE,
    LocalityCodeError,
    ancestors,
    check_code,
    is_within,
    level_of,
    scope_prefix,
)
from .packs import PackError, load_pack, locality_plugin
from .parameters import LocalityRegistry, ParamColumn, ParameterError, Parameters
from .signals import SIGNAL_LOOKBACK_DAYS, SignalColumns

__all__ = [
    "EARNED_INCOME",
    "NATIONAL_CODE",
    "SELF_CARE_INDICATORS",
    "SIGNAL_LOOKBACK_DAYS",
    "Assessment",
    "Because",
    "Detection",
    "HouseholdBatch",
    "LocalityCodeError",
    "LocalityRegistry",
    "MemberColumns",
    "PackError",
    "ParamColumn",
    "ParameterError",
    "Parameters",
    "SignalColumns",
    "Yuan",
    "ancestors",
    "because",
    "check_code",
    "is_any",
    "is_within",
    "level_of",
    "load_pack",
    "locality_plugin",
    "scope_prefix",
    "self_care_level",
    "yuan",
]
