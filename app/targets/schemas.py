import datetime as dt
from decimal import Decimal

from pydantic import ConfigDict, Field, ValidationInfo, field_validator

from app.cells.tables import Action
from app.core.fields import Number, Reason, Schema, Text, Value, required_when
from app.observations.models import Qualifier
from app.targets.models import Operator
from app.targets.rules import Status, bounds_problem


class TargetWrite(Schema):
    """`upper` is required for `between` (not below `value`) and refused for any other operator."""

    model_config = ConfigDict(
        json_schema_extra={
            **required_when("operator", "between", "upper"),
            "else": {"properties": {"upper": {"type": "null"}}},
        }
    )

    operator: Operator
    value: Value
    upper: Value | None = Field(default=None, validate_default=True)
    note: Text | None = Field(default=None, max_length=2000)
    source: Text | None = Field(default=None, max_length=500)
    reason: Reason = None

    @field_validator("upper")
    @classmethod
    def _upper_fits_operator(cls, upper: Decimal | None, info: ValidationInfo) -> Decimal | None:
        # A field validator rather than a model one, so that the error names ["body", "upper"].
        operator = info.data.get("operator")
        problem = None if operator is None else bounds_problem(operator, info.data.get("value"), upper)
        if problem is not None:
            raise ValueError(problem)
        return upper


class TargetPatch(Schema):
    """A merge patch (RFC 7396): the fields given change, `null` clears one (`operator` and `value`
    cannot be cleared), the rest stay; the target it makes is checked whole. `reason` is not part of
    the target."""

    operator: Operator | None = None
    value: Value | None = None
    upper: Value | None = None
    note: Text | None = Field(default=None, max_length=2000)
    source: Text | None = Field(default=None, max_length=500)
    reason: Reason = None


class TargetRead(Schema):
    indicator: str
    department: str
    year: int
    operator: Operator
    value: Number
    upper: Number | None
    note: str | None
    source: str | None
    version: int
    updated_at: dt.datetime
    updated_by: str


class TargetRevisionRead(Schema):
    version: int
    action: Action
    operator_before: Operator | None
    operator_after: Operator | None
    value_before: Number | None
    value_after: Number | None
    upper_before: Number | None
    upper_after: Number | None
    note: str | None
    source: str | None
    changed_at: dt.datetime
    changed_by: str
    reason: str | None


class TargetBounds(Schema):
    operator: Operator
    value: Number
    upper: Number | None


class ComplianceItem(Schema):
    indicator: str
    department: str
    year: int
    target: TargetBounds
    actual: Number | None = Field(description="the cell's figure; null without data")
    qualifier: Qualifier | None = Field(description="the figure's qualifier; null without data")
    status: Status
    gap: Number | None = Field(
        description="how far the actual lies inside the target (+) or outside it (-); null without data"
    )
    reason: str = Field(
        description="one sentence, in the language of `lang`, saying why: the margin, the shortfall, "
        "which bound the figure's qualifier leaves open, or that no figure was reported"
    )


class ComplianceSummary(Schema):
    targets: int
    met: int
    not_met: int
    indeterminate: int
    no_data: int
    rate: Number | None = Field(
        description="met / (met + not_met), rounded half away from zero to 4 places; null when both are 0"
    )
    reported_rate: Number | None = Field(
        description="targets with a figure / targets, rounded half away from zero to 6 places; "
        "null without targets"
    )


class ComplianceRead(Schema):
    year: int
    summary: ComplianceSummary
    items: list[ComplianceItem]
    next_cursor: str | None = None


class ComplianceYear(ComplianceSummary):
    year: int


class ComplianceTrendRead(Schema):
    year_from: int
    year_to: int
    years: list[ComplianceYear]
