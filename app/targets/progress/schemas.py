from pydantic import Field

from app.core.fields import Number, Schema
from app.indicators.models import Direction
from app.observations.models import Qualifier
from app.targets.progress.method import ProgressStatus
from app.targets.schemas import TargetBounds


class ProgressFigure(Schema):
    year: int
    value: Number
    qualifier: Qualifier


class ProgressItem(Schema):
    indicator: str
    department: str
    year: int = Field(description="the target's year")
    target: TargetBounds
    direction: Direction | None = Field(
        description="the direction progress is measured in: the indicator's, or for `none` the one "
        "the target implies; null without figures, or when the base figure lies inside the `exactly` or "
        "`between` target of an indicator of direction `none`"
    )
    base: ProgressFigure | None = Field(
        description="the first figure from base_year on (by default the earliest); null without figures"
    )
    latest: ProgressFigure | None = Field(
        description="the last figure up to the target's year; null without figures"
    )
    aim: Number | None = Field(
        description="the value cagr_required aims at: the target's value (for `between`, upper when "
        "the direction is lower); 0 is taken as 0.001 in the arithmetic; null without figures"
    )
    cagr_observed: Number | None = Field(
        description="(latest/base)^(1/(latest year − base year)) − 1, 6 places; a base of 0 taken as "
        "0.001; null with fewer than two figures or values of opposite signs"
    )
    cagr_required: Number | None = Field(
        description="(aim/base)^(1/(year − base year)) − 1, 6 places; null when cagr_observed is, "
        "without a direction, or when aim and base have opposite signs"
    )
    ratio: Number | None = Field(
        description="sign × direction × cagr_observed / |cagr_required|, 6 places (sign −1 for a "
        "negative base, direction −1 for lower); null when either is null or cagr_required is 0"
    )
    status: ProgressStatus = Field(
        description="target_achieved (the latest figure meets the target, as compliance judges it), "
        "else by ratio: substantial_progress ≥ 0.95, moderate_progress ≥ 0.6, limited_progress ≥ 0, "
        "deterioration < 0 (with cagr_required 0: by the sign of the growth); not_available when growth "
        "cannot be measured (fewer than two figures, values of opposite signs, no direction)"
    )


class ProgressRead(Schema):
    year: int
    base_year: int | None = Field(description="as asked; null: each cell's earliest figure")
    items: list[ProgressItem]
    next_cursor: str | None = None
