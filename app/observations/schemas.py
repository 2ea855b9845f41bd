import datetime as dt

from pydantic import Field

from app.cells.tables import Action
from app.core.fields import Number, Reason, Schema, Text, Value
from app.observations.models import Qualifier
from app.quality.schemas import WriteWarning


class ObservationWrite(Schema):
    value: Value
    qualifier: Qualifier = Qualifier.exact
    note: Text | None = Field(default=None, max_length=2000)
    source: Text | None = Field(default=None, max_length=500)
    reason: Reason = None


class ObservationPatch(Schema):
    """A merge patch (RFC 7396): the fields given change, `null` clears one (`qualifier` goes back to
    `exact`; `value` cannot be cleared), the rest stay. `reason` is not part of the figure."""

    value: Value | None = None
    qualifier: Qualifier | None = None
    note: Text | None = Field(default=None, max_length=2000)
    source: Text | None = Field(default=None, max_length=500)
    reason: Reason = None


class ObservationRead(Schema):
    indicator: str
    department: str
    year: int
    value: Number
    qualifier: Qualifier
    note: str | None
    source: str | None
    # (v2) A derived indicator's figure: version and updated_by null, updated_at the latest of its
    # operands' figures, note and source null.
    version: int | None
    updated_at: dt.datetime
    updated_by: str | None


class ObservationWritten(ObservationRead):
    """A write's answer: the figure, and what it sets off without being refused (app.quality)."""

    warnings: list[WriteWarning] = Field(
        default_factory=list,
        description="(v2) the validation rules the figure's department-year breaks (type rule) and whether "
        "the figure is an outlier (type outlier); a warning never refuses a write",
    )


class RevisionRead(Schema):
    version: int
    action: Action
    value_before: Number | None
    value_after: Number | None
    qualifier_before: Qualifier | None
    qualifier_after: Qualifier | None
    note: str | None
    source: str | None
    changed_at: dt.datetime
    changed_by: str
    reason: str | None
