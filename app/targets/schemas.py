import datetime as dt

from pydantic import Field, model_validator

from app.cells import Action
from app.schemas import Number, Schema, Value
from app.targets.models import Operator


class TargetWrite(Schema):
    operator: Operator
    value: Value
    upper: Value | None = None
    note: str | None = Field(default=None, max_length=2000)
    source: str | None = Field(default=None, max_length=500)

    @model_validator(mode="after")
    def _bounds(self) -> "TargetWrite":
        if self.operator is Operator.between:
            if self.upper is None:
                raise ValueError("a 'between' target needs 'upper'")
            if self.value > self.upper:
                raise ValueError("'value' must not be greater than 'upper'")
        elif self.upper is not None:
            raise ValueError(f"'upper' belongs only to 'between' targets, not {self.operator}")
        return self


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
