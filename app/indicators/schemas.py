from pydantic import Field

from app.core.fields import Code, Schema
from app.indicators.models import Aggregation, Direction, ValueType


class IndicatorFields(Schema):
    name: str = Field(min_length=1, max_length=200)
    name_en: str | None = Field(default=None, max_length=200)
    section: Code | None = None
    unit: str | None = Field(default=None, max_length=32)
    value_type: ValueType
    direction: Direction = Direction.higher
    aggregation: Aggregation = Aggregation.sum
    description: str | None = Field(default=None, max_length=4000)


class IndicatorCreate(IndicatorFields):
    code: Code


class IndicatorUpdate(Schema):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    name_en: str | None = Field(default=None, max_length=200)
    section: Code | None = None
    unit: str | None = Field(default=None, max_length=32)
    value_type: ValueType | None = None
    direction: Direction | None = None
    aggregation: Aggregation | None = None
    description: str | None = Field(default=None, max_length=4000)


class IndicatorRead(IndicatorFields):
    code: str
