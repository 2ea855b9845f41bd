"""Realistic data, fast: the 2021 report plus generated departments, indicators and years of figures.

Rows go in by SQLAlchemy Core executemany (one round trip per few thousand rows), so a database of
tens of thousands of observations is ready in seconds. Every generated observation has its creating
revision, as one written through the API would, and targets exist for the last year.
"""

import datetime as dt
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, insert, select

from app.departments.models import Department
from app.indicators.models import Indicator
from app.observations.models import Observation, ObservationRevision
from app.targets.models import Target, TargetRevision
from bench.harness import engine_for, prepare, throwaway

ACTOR = "bench-data"
CHUNK = 5000


@dataclass(frozen=True)
class Scale:
    bureaus: int = 5
    units_per_bureau: int = 19
    indicators: int = 50
    years: int = 10
    last_year: int = 2021

    @property
    def departments(self) -> int:
        return self.bureaus * (1 + self.units_per_bureau)

    @property
    def observations(self) -> int:
        return self.departments * self.indicators * self.years

    @classmethod
    def from_env(cls) -> "Scale":
        """BENCH_SCALE=small for a quick look (fewer departments)."""
        if os.environ.get("BENCH_SCALE") == "small":
            return cls(bureaus=2, units_per_bureau=4, indicators=20)
        return cls()


@dataclass
class Dataset:
    """Codes a benchmark can name in its URLs."""

    scale: Scale
    bureaus: list[str] = field(default_factory=list)
    units: dict[str, list[str]] = field(default_factory=dict)  # bureau -> its units
    indicators: list[str] = field(default_factory=list)

    @property
    def years(self) -> range:
        return range(self.scale.last_year - self.scale.years + 1, self.scale.last_year + 1)

    def cells(self, department: str) -> list[tuple[str, str, int]]:
        """Every cell of one department: (indicator, department, year)."""
        return [(i, department, y) for i in self.indicators for y in self.years]

    @classmethod
    def named(cls, scale: Scale) -> "Dataset":
        """The codes `populate(url, scale)` gives, without a database."""
        data = cls(scale)
        data.bureaus = [f"bureau-{b:02d}" for b in range(scale.bureaus)]
        data.units = {b: [f"{b}-unit-{u:02d}" for u in range(scale.units_per_bureau)] for b in data.bureaus}
        data.indicators = [f"metric-{i:03d}" for i in range(scale.indicators)]
        return data


def value_for(i: int, d: int, year: int) -> Decimal:
    return Decimal((i * 7919 + d * 104729 + year * 31) % 100_000)


def populate(url: str, scale: Scale | None = None) -> Dataset:
    """Add generated departments (bureaus under `zone`, units under each), indicators and figures."""
    scale = scale or Scale.from_env()
    data = Dataset.named(scale)
    now = dt.datetime.now(dt.UTC)
    with engine_for(url) as engine, engine.begin() as conn:
        zone = conn.execute(select(Department.id).where(Department.code == "zone")).scalar_one()
        _insert(conn, Department, [_department(code, zone, now) for code in data.bureaus])
        ids = _ids(conn, Department)
        units: list[dict[str, Any]] = []
        for bureau in data.bureaus:
            units += [_department(code, ids[bureau], now) for code in data.units[bureau]]
        _insert(conn, Department, units)
        departments = _ids(conn, Department)

        _insert(conn, Indicator, [_indicator(code, i, now) for i, code in enumerate(data.indicators)])
        indicators = _ids(conn, Indicator)

        generated = data.bureaus + [u for b in data.bureaus for u in data.units[b]]
        observations: list[dict[str, Any]] = []
        targets: list[dict[str, Any]] = []
        for d, department in enumerate(generated):
            for i, indicator in enumerate(data.indicators):
                key = {"indicator_id": indicators[indicator], "department_id": departments[department]}
                for year in data.years:
                    observations.append({**key, "year": year, "value": value_for(i, d, year)})
                targets.append({**key, "year": scale.last_year, "value": Decimal(50_000)})
        _insert(conn, Observation, [_current(row, "exact", now) for row in observations])
        _insert(
            conn, ObservationRevision, [_revision(row, "qualifier", "exact", now) for row in observations]
        )
        _insert(conn, Target, [_current(row, "at_least", now, kind="operator") for row in targets])
        _insert(conn, TargetRevision, [_revision(row, "operator", "at_least", now) for row in targets])
    return data


def _insert(conn: Connection, model: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), CHUNK):
        conn.execute(insert(model), rows[start : start + CHUNK])


def _ids(conn: Connection, model: Any) -> dict[str, int]:
    return {code: id_ for code, id_ in conn.execute(select(model.code, model.id))}  # noqa: C416


def _department(code: str, parent_id: int, now: dt.datetime) -> dict[str, Any]:
    return {
        "code": code,
        "name": f"部门 {code}",
        "name_en": f"Department {code}",
        "parent_id": parent_id,
        "created_at": now,
        "updated_at": now,
        "updated_by": ACTOR,
    }


def _indicator(code: str, i: int, now: dt.datetime) -> dict[str, Any]:
    return {
        "code": code,
        "name": f"指标 {i}",
        "name_en": f"Generated metric {i}",
        "section": ("functions", "oversight", "disputes")[i % 3],
        "unit": "项",
        "value_type": "count",
        "direction": "higher",
        "aggregation": "sum",
        "description": None,
        "created_at": now,
        "updated_at": now,
        "updated_by": ACTOR,
    }


def _current(
    row: dict[str, Any], kind_value: str, now: dt.datetime, kind: str = "qualifier"
) -> dict[str, Any]:
    out = {**row, kind: kind_value, "version": 1, "note": None, "source": "bench"}
    if kind == "operator":
        out["upper"] = None
    return {**out, "updated_at": now, "updated_by": ACTOR}


def _revision(row: dict[str, Any], kind: str, kind_value: str, now: dt.datetime) -> dict[str, Any]:
    out: dict[str, Any] = {
        **{k: row[k] for k in ("indicator_id", "department_id", "year")},
        "version": 1,
        "action": "create",
        "value_before": None,
        "value_after": row["value"],
        f"{kind}_before": None,
        f"{kind}_after": kind_value,
        "note": None,
        "source": "bench",
        "changed_at": now,
        "changed_by": ACTOR,
    }
    if kind == "operator":
        out["upper_before"] = None
        out["upper_after"] = None
    return out


@contextmanager
def sqlite_figures() -> Iterator[tuple[str, Dataset, Path]]:
    """A throwaway SQLite file with the 2021 report and populate()'s figures: its URL, the data, and
    a folder of its own for the caller's files (both removed afterwards)."""
    with tempfile.TemporaryDirectory() as tmp, throwaway("sqlite", Path(tmp)) as url:
        prepare(url)
        yield url, populate(url), Path(tmp)
