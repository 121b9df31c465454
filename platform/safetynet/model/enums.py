"""The enumerations of the client contract (API.md), shared by the core, the plugins and the schema.

Each enum's member names are the GraphQL names; the order of members is the order used for the
small-integer codes in columnar batches (``code_of``).
"""

from __future__ import annotations

from enum import Enum


class UrbanRural(Enum):
    """城乡: whether the household's registration is urban or rural (decides which dibao standard)."""

    URBAN = "URBAN"
    RURAL = "RURAL"


class Sex(Enum):
    MALE = "MALE"
    FEMALE = "FEMALE"


class LowIncomeCategory(Enum):
    """The six low-income categories (低收入人口类别), DOMAIN.md §1."""

    DIBAO = "DIBAO"  # 最低生活保障对象
    TEKUN = "TEKUN"  # 特困人员
    RETURN_POVERTY_WATCH = "RETURN_POVERTY_WATCH"  # 防止返贫监测对象
    MARGINAL = "MARGINAL"  # 低保边缘家庭成员
    RIGID_EXPENSE = "RIGID_EXPENSE"  # 刚性支出困难家庭成员
    OTHER_HARDSHIP = "OTHER_HARDSHIP"  # 其他困难人员


class Circle(Enum):
    """Changning's four circles (四个圈层), DOMAIN.md §1."""

    COVERED = "COVERED"
    COVERED_NEEDS_MORE = "COVERED_NEEDS_MORE"
    POLICY_EDGE = "POLICY_EDGE"
    OTHER_CONCERN = "OTHER_CONCERN"


class AidTier(Enum):
    """分层: basic living, special, emergency, service, other."""

    BASIC_LIVING = "BASIC_LIVING"
    SPECIAL = "SPECIAL"
    EMERGENCY = "EMERGENCY"
    SERVICE = "SERVICE"
    OTHER = "OTHER"


class AidStatus(Enum):
    ACTIVE = "ACTIVE"
    ENDED = "ENDED"


class WarningLevel(Enum):
    """预警级别, low to high."""

    BLUE = "BLUE"
    YELLOW = "YELLOW"
    ORANGE = "ORANGE"
    RED = "RED"


class WarningStatus(Enum):
    OPEN = "OPEN"
    ASSIGNED = "ASSIGNED"
    VERIFIED = "VERIFIED"
    RESOLVED = "RESOLVED"
    DISMISSED = "DISMISSED"


class Resolution(Enum):
    """分类处置."""

    ENROLLED = "ENROLLED"
    REFERRED = "REFERRED"
    ONE_MATTER_ONE_DISCUSSION = "ONE_MATTER_ONE_DISCUSSION"  # 一事一议
    TERMINATED = "TERMINATED"
    NO_ACTION = "NO_ACTION"


class NeedStatus(Enum):
    OPEN = "OPEN"
    CLAIMED = "CLAIMED"
    FULFILLED = "FULFILLED"
    WITHDRAWN = "WITHDRAWN"


class NeedEventKind(Enum):
    PUBLISHED = "PUBLISHED"
    CLAIMED = "CLAIMED"
    FULFILLED = "FULFILLED"
    WITHDRAWN = "WITHDRAWN"


class Urgency(Enum):
    LOW = "LOW"
    NORMAL = "NORMAL"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"


class Role(Enum):
    ADMIN = "ADMIN"
    CIVIL_AFFAIRS = "CIVIL_AFFAIRS"
    DEPARTMENT = "DEPARTMENT"
    PARTNER = "PARTNER"
    AUDITOR = "AUDITOR"


class Relation(Enum):
    """与户主关系."""

    HEAD = "HEAD"
    SPOUSE = "SPOUSE"
    CHILD = "CHILD"
    PARENT = "PARENT"
    GRANDCHILD = "GRANDCHILD"
    GRANDPARENT = "GRANDPARENT"
    SIBLING = "SIBLING"
    OTHER = "OTHER"


class DisabilityLevel(Enum):
    """残疾等级; levels 1 and 2 are severe (重度残疾)."""

    NONE = "NONE"
    LEVEL_1 = "LEVEL_1"
    LEVEL_2 = "LEVEL_2"
    LEVEL_3 = "LEVEL_3"
    LEVEL_4 = "LEVEL_4"


class Illness(Enum):
    NONE = "NONE"
    CHRONIC = "CHRONIC"  # 慢性病
    SERIOUS = "SERIOUS"  # 重病


class LaborCapacity(Enum):
    """劳动能力."""

    FULL = "FULL"
    PARTIAL = "PARTIAL"
    NONE = "NONE"


class Employment(Enum):
    EMPLOYED = "EMPLOYED"
    UNEMPLOYED = "UNEMPLOYED"
    STUDENT = "STUDENT"
    RETIRED = "RETIRED"
    NOT_IN_LABOR_FORCE = "NOT_IN_LABOR_FORCE"


class EducationStage(Enum):
    NONE = "NONE"
    PRESCHOOL = "PRESCHOOL"
    PRIMARY = "PRIMARY"
    JUNIOR_SECONDARY = "JUNIOR_SECONDARY"
    SENIOR_SECONDARY = "SENIOR_SECONDARY"
    VOCATIONAL = "VOCATIONAL"
    UNIVERSITY = "UNIVERSITY"


class SelfCareLevel(Enum):
    """生活自理能力, from the six indicators (Yongning, 002 §8)."""

    ABLE = "ABLE"
    PARTLY_UNABLE = "PARTLY_UNABLE"
    FULLY_UNABLE = "FULLY_UNABLE"


class IncomeKind(Enum):
    WAGES = "WAGES"  # 工资性收入
    BUSINESS = "BUSINESS"  # 经营净收入
    PROPERTY = "PROPERTY"  # 财产净收入
    TRANSFER = "TRANSFER"  # 转移净收入
    PENSION = "PENSION"
    OTHER = "OTHER"


class AssetKind(Enum):
    SAVINGS = "SAVINGS"
    VEHICLE = "VEHICLE"
    HOUSE = "HOUSE"
    SECURITIES = "SECURITIES"
    OTHER = "OTHER"


class ExpenseKind(Enum):
    """刚性支出."""

    MEDICAL = "MEDICAL"
    EDUCATION = "EDUCATION"
    REHABILITATION = "REHABILITATION"
    LIVING = "LIVING"


class LocalityLevel(Enum):
    NATIONAL = "NATIONAL"
    PROVINCE = "PROVINCE"
    CITY = "CITY"
    COUNTY = "COUNTY"
    TOWNSHIP = "TOWNSHIP"
    VILLAGE = "VILLAGE"


class PartnerKind(Enum):
    TRADE_UNION = "TRADE_UNION"  # 总工会
    YOUTH_LEAGUE = "YOUTH_LEAGUE"  # 团委
    WOMENS_FEDERATION = "WOMENS_FEDERATION"  # 妇联
    DISABLED_FEDERATION = "DISABLED_FEDERATION"  # 残联
    RED_CROSS = "RED_CROSS"  # 红十字会
    CHARITY = "CHARITY"  # 慈善组织
    COMMUNITY_FOUNDATION = "COMMUNITY_FOUNDATION"  # 社区基金会


class WebhookStatus(Enum):
    """A partner's webhook: ACTIVE receives events; PAUSED after a receiver kept failing (resume it)."""

    ACTIVE = "ACTIVE"
    PAUSED = "PAUSED"


def code_of(member: Enum) -> int:
    """The small-integer code of an enum member in columnar batches (its position in the enum)."""
    return list(type(member)).index(member)
