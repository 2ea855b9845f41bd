import datetime as dt
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, model_validator

from app.core.fields import YEAR_MAX, YEAR_MIN, whole_number
from app.core.fields import Code as CodeField
from app.reporting.models import State

Year = Annotated[int, Field(ge=YEAR_MIN, le=YEAR_MAX, strict=True), BeforeValidator(whole_number)]
Flag = Annotated[bool, Field(strict=True)]


def _day_text(value: object) -> object:
    """A day is ISO text (`2023-01-31`): a number is not read as a timestamp."""
    if not isinstance(value, (str, dt.date)):
        raise ValueError("a date as text, YYYY-MM-DD")
    return value


Day = Annotated[dt.date, BeforeValidator(_day_text), WithJsonSchema({"type": "string", "format": "date"})]
Reason = Annotated[str, Field(min_length=1, max_length=500, pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$")]


class AssignmentWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    from_year: Year
    to_year: Year | None = None

    @model_validator(mode="after")
    def _order(self) -> "AssignmentWrite":
        if self.to_year is not None and self.to_year < self.from_year:
            raise ValueError("to_year must not be before from_year")
        return self


class AssignmentRead(BaseModel):
    indicator: str
    department: str
    from_year: int
    to_year: int | None


class AssignmentRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    indicator: CodeField
    department: CodeField
    from_year: Year
    to_year: Year | None = None


class AssignmentBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    assignments: list[AssignmentRow] = Field(max_length=100_000)
    dry_run: Flag = False
    atomic: Flag = True


class BatchSummary(BaseModel):
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    dry_run: bool = False
    errors: list[dict[str, object]] = []


class PeriodWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    opens: Day
    closes: Day = Field(description="the last day of entry, in INDICATORS_TIMEZONE")

    @model_validator(mode="after")
    def _order(self) -> "PeriodWrite":
        if self.closes < self.opens:
            raise ValueError("closes must not be before opens")
        return self


class ExceptionRead(BaseModel):
    department: str
    until: dt.date
    reason: str


class PeriodRead(BaseModel):
    year: int
    opens: dt.date
    closes: dt.date
    exceptions: list[ExceptionRead] = []


class ExceptionWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    until: Day
    reason: Reason


class ActionWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason | None = None
    allow_missing: Flag = False


class HistoryItem(BaseModel):
    action: str
    by: str
    at: dt.datetime
    reason: str | None


class ApprovalRead(BaseModel):
    department: str
    year: int
    state: State
    submitted_at: dt.datetime | None = None
    submitted_by: str | None = None
    approved_at: dt.datetime | None = None
    approved_by: str | None = None
    history: list[HistoryItem] = []
