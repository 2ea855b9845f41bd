from pydantic import Field

from app.core.fields import Code, Schema, Text, not_null


class DepartmentBase(Schema):
    name: Text = Field(min_length=1, max_length=200)
    name_en: Text | None = Field(default=None, max_length=200)
    parent: Code | None = None


class DepartmentCreate(DepartmentBase):
    code: Code


class DepartmentUpdate(Schema):
    name: Text | None = Field(default=None, min_length=1, max_length=200, json_schema_extra=not_null)
    name_en: Text | None = Field(default=None, max_length=200)
    parent: Code | None = None


class DepartmentRead(Schema):
    code: str
    name: str
    name_en: str | None
    parent: str | None
