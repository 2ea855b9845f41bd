from pydantic import Field

from app.core.fields import Code, Number, Schema, Text, Value, not_null
from app.indicators.models import Aggregation, Direction, ValueType


class IndicatorFields(Schema):
    name: Text = Field(min_length=1, max_length=200)
    name_en: Text | None = Field(default=None, max_length=200)
    section: Code | None = None
    unit: Text | None = Field(default=None, max_length=32)
    value_type: ValueType
    direction: Direction = Direction.higher
    aggregation: Aggregation = Aggregation.sum
    description: Text | None = Field(default=None, max_length=4000)
    formula: Text | None = Field(
        default=None,
        max_length=1000,
        description="(v2) makes the indicator derived: numbers, #{code} of stored indicators, + - * / "
        "and ( ); its figures are computed when read and cannot be written",
        examples=["#{free-seals} / #{new-firms-sealed}"],
    )
    expected_min: Value | None = Field(
        default=None, description="(v2) lower bound of the min_max outlier check"
    )
    expected_max: Value | None = Field(
        default=None, description="(v2) upper bound of the min_max outlier check"
    )


class IndicatorCreate(IndicatorFields):
    code: Code


class IndicatorUpdate(Schema):
    # name, value_type, direction and aggregation may be left out, never null (the service says so).
    name: Text | None = Field(default=None, min_length=1, max_length=200, json_schema_extra=not_null)
    name_en: Text | None = Field(default=None, max_length=200)
    section: Code | None = None
    unit: Text | None = Field(default=None, max_length=32)
    value_type: ValueType | None = Field(default=None, json_schema_extra=not_null)
    direction: Direction | None = Field(default=None, json_schema_extra=not_null)
    aggregation: Aggregation | None = Field(default=None, json_schema_extra=not_null)
    description: Text | None = Field(default=None, max_length=4000)
    formula: Text | None = Field(default=None, max_length=1000)
    expected_min: Value | None = None
    expected_max: Value | None = None


class IndicatorRead(IndicatorFields):
    code: str
    # As stored: text kept before control characters were refused must still be read (and exported).
    name: str
    name_en: str | None = None
    unit: str | None = None
    description: str | None = None
    formula: str | None = None
    expected_min: Number | None = None
    expected_max: Number | None = None
