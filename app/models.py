"""Every table, imported in one place for Alembic and the tests."""

from app.audit.models import AuditEvent
from app.auth.models import ApiToken
from app.core.db.types import Base
from app.departments.models import Department
from app.indicators.models import Indicator
from app.observations.models import Observation, ObservationRevision
from app.quality.models import Rule, RuleOperand
from app.reporting.models import Approval, ApprovalAction, Assignment, Period, PeriodException
from app.targets.models import Target, TargetRevision

metadata = Base.metadata

__all__ = [
    "ApiToken",
    "Approval",
    "ApprovalAction",
    "Assignment",
    "AuditEvent",
    "Department",
    "Indicator",
    "Observation",
    "ObservationRevision",
    "Period",
    "PeriodException",
    "Rule",
    "RuleOperand",
    "Target",
    "TargetRevision",
    "metadata",
]
