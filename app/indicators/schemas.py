from pydantic import Field

from app.core.fields import Code, Schema, Text
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


class IndicatorCreate(IndicatorFields):
    code: Code


class IndicatorUpdate(Schema):
    name: Text | None = Field(default=None, min_length=1, max_length=200)
    name_en: Text | None = Field(default=None, max_length=200)
    section: Code | None = None
    unit: Text | None = Field(default=None, max_length=32)
    value_type: ValueType | None = None
    direction: Direction | None = None
    aggregation: Aggregation | None = None
    description: Text | None = Field(default=None, max_length=4000)


class IndicatorRead(IndicatorFields):
    code: str
