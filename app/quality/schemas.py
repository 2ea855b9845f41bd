from typing import Literal

from pydantic import BaseModel, Field

from app.core.fields import Number, Schema, Text
from app.quality.judge import Status
from app.quality.models import Importance, Missing, Operator

FORMULA = "numbers, #{code} of stored indicators, + - * / and ( ), as a derived indicator's formula"


class RuleWrite(Schema):
    name: Text = Field(min_length=1, max_length=200)
    name_en: Text | None = Field(default=None, max_length=200)
    description: Text | None = Field(default=None, max_length=4000)
    left: Text = Field(
        min_length=1, max_length=1000, description=FORMULA, examples=["#{expert-hazards-rectified}"]
    )
    operator: Operator
    right: Text = Field(
        min_length=1, max_length=1000, description=FORMULA, examples=["#{expert-hazards-found}"]
    )
    importance: Importance = Importance.medium
    missing: Missing = Field(
        default=Missing.skip_if_any_missing,
        description="skip_if_any_missing: judged only when every operand has a figure; skip_if_all_missing: "
        "not judged when none has, absent figures count as 0; never_skip: absent figures count as 0. "
        "The pair operators judge presence itself and ignore it",
    )


class RuleRead(RuleWrite):
    code: str
    # As stored: text kept before control characters were refused must still be read.
    name: str
    name_en: str | None = None
    description: str | None = None
    left: str
    right: str


class BreachRead(BaseModel):
    rule: str
    department: str
    year: int
    left_value: Number | None = Field(description="the left side over the figures as written, to 6 places")
    operator: Operator
    right_value: Number | None = Field(description="the right side over the figures as written, to 6 places")
    importance: Importance
    status: Status = Field(description="violated, or indeterminate when a qualifier leaves it open")


class ValidationSummary(BaseModel):
    rules: int = Field(description="rules judged")
    violated: int
    indeterminate: int


class ValidationRead(BaseModel):
    year: int
    summary: ValidationSummary
    items: list[BreachRead]
    next_cursor: str | None


Algorithm = Literal["modified_z_score", "z_score", "min_max"]


class OutlierRead(BaseModel):
    indicator: str
    department: str
    year: int
    value: Number
    median: Number | None = Field(description="of the department's other years; null with fewer than 4")
    mad: Number | None = Field(description="median absolute deviation of the other years from their median")
    mean: Number | None
    std_dev: Number | None = Field(description="population standard deviation of the other years")
    z_score: Number | None = Field(description="the score of the algorithm asked (null for min_max)")
    lower_bound: Number | None
    upper_bound: Number | None


class OutlierMetadata(BaseModel):
    algorithm: Algorithm
    threshold: Number | None = Field(description="null for min_max")
    count: int


class OutliersRead(BaseModel):
    metadata: OutlierMetadata
    items: list[OutlierRead]


class WriteWarning(BaseModel):
    """What a write's figure sets off, without refusing it: a rule it breaks, or being an outlier."""

    type: Literal["rule", "outlier"]
    msg: str
    rule: str | None = Field(default=None, description="type rule: the rule's code")
    importance: Importance | None = Field(default=None, description="type rule")
    status: Status | None = Field(default=None, description="type rule: violated or indeterminate")
    algorithm: Algorithm | None = Field(default=None, description="type outlier")
    lower_bound: Number | None = Field(default=None, description="type outlier")
    upper_bound: Number | None = Field(default=None, description="type outlier")
