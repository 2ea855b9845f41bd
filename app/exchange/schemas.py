"""DHIS2's data value set and import summary, as this service writes and reads them (in DHIS2's own
mixedCase field names)."""

from enum import StrEnum

from pydantic import Field

from app.core.fields import Schema


class ImportStrategy(StrEnum):
    CREATE = "CREATE"
    UPDATE = "UPDATE"
    CREATE_AND_UPDATE = "CREATE_AND_UPDATE"
    DELETE = "DELETE"


class AtomicMode(StrEnum):
    ALL = "ALL"
    NONE = "NONE"


class DataValue(Schema):
    """One figure: `dataElement` the indicator code, `orgUnit` the department code, `period` the year."""

    dataElement: str  # noqa: N815
    period: str = Field(description="a year, such as 2021: only yearly periods are held")
    orgUnit: str  # noqa: N815
    value: str | None = Field(description="the exact decimal, as text")
    storedBy: str | None = None  # noqa: N815
    lastUpdated: str | None = None  # noqa: N815
    comment: str | None = Field(default=None, description="the figure's note")
    followup: bool = False


class DataValueSet(Schema):
    dataValues: list[DataValue]  # noqa: N815


class DataValueIn(Schema):
    """One data value of an import; `period` and `orgUnit` may be given once for the whole set."""

    dataElement: str  # noqa: N815
    period: str | None = None
    orgUnit: str | None = None  # noqa: N815
    categoryOptionCombo: str | None = None  # noqa: N815
    attributeOptionCombo: str | None = None  # noqa: N815
    value: str | float | None = None
    comment: str | None = None
    # What an export carries beside them: accepted and not read.
    storedBy: str | None = None  # noqa: N815
    lastUpdated: str | None = None  # noqa: N815
    created: str | None = None
    followup: bool | None = None
    deleted: bool | None = None


class DataValueSetIn(Schema):
    dataSet: str | None = None  # noqa: N815
    period: str | None = None
    orgUnit: str | None = None  # noqa: N815
    dataValues: list[DataValueIn]  # noqa: N815


class ImportCount(Schema):
    imported: int
    updated: int
    ignored: int
    deleted: int


class ImportConflict(Schema):
    object: str | None = Field(description="what was wrong, as written (an identifier, a period, a value)")
    value: str = Field(description="why")
    property: str | None = Field(description="dataElement, orgUnit, period, value or comment")
    errorCode: str = Field(description="this service's error type")  # noqa: N815
    indexes: list[int] = Field(description="the data values it concerns, from 0 in the order sent")


class ImportSummary(Schema):
    responseType: str = "ImportSummary"  # noqa: N815
    status: str = Field(description="SUCCESS, WARNING (some conflicts) or ERROR (nothing imported)")
    description: str
    importOptions: dict[str, object]  # noqa: N815
    importCount: ImportCount  # noqa: N815
    conflicts: list[ImportConflict] = Field(description="at most 1000 row errors, merged")
    conflictCount: int = Field(description="every row error, counted")  # noqa: N815
