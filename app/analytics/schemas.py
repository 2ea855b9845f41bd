import datetime as dt

from pydantic import Field

from app.core.fields import Number, Schema
from app.observations.models import Qualifier


class Point(Schema):
    year: int
    value: Number
    qualifier: Qualifier


class Series(Schema):
    indicator: str
    department: str
    unit: str | None
    indicator_name: str
    department_name: str
    points: list[Point]


class SeriesRead(Schema):
    series: list[Series]


class ComparisonRow(Schema):
    department: str
    value: Number | None
    base_value: Number | None
    change: Number | None = Field(description="value - base_value; null when either is missing")
    change_pct: Number | None = Field(
        description="change / |base_value| x 100, rounded half away from zero to 2 places; "
        "null when base_value is 0 or either is missing"
    )
    improved: bool | None = Field(
        description="whether the change goes the indicator's direction; null for direction none "
        "or missing data (no change is not an improvement)"
    )
    rank: int | None = Field(
        description="1 is best by value in the indicator's direction; ties share a rank (1, 1, 3); "
        "null without a value or for direction none"
    )


class ComparisonRead(Schema):
    indicator: str
    year: int
    base_year: int
    rows: list[ComparisonRow]


class CompletenessSummary(Schema):
    departments: int
    expected: int
    reported: int
    missing: int
    rate: Number = Field(description="reported / expected, to 6 places")
    draft: int
    submitted: int
    approved: int
    late: int


class CompletenessItem(Schema):
    department: str
    expected: int = Field(description="the assignments in force that year")
    reported: int = Field(description="those with a figure")
    missing: list[str] = Field(description="the indicators without a figure, in code order")
    rate: Number
    state: str = Field(description="draft, submitted or approved")
    submitted_at: dt.datetime | None
    approved_at: dt.datetime | None
    late: bool = Field(description="not submitted by the period's closes, or submitted after it")


class CompletenessRead(Schema):
    year: int
    summary: CompletenessSummary
    items: list[CompletenessItem]
