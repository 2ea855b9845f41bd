"""Load the report's departments, indicators, figures, targets, assignments, approvals and (v2) a few
validation rules; a second run changes nothing.

Rows already present are left as they are: a figure a clerk has since corrected is not put back.
"""

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from sqlalchemy.orm import Session

from app.auth.models import Role
from app.auth.principal import Principal
from app.cells.key import Cell
from app.cells.store import Outcome
from app.core.problems import NotFound
from app.departments import service as departments
from app.departments.schemas import DepartmentCreate
from app.indicators import service as indicators
from app.indicators.schemas import IndicatorCreate
from app.observations import service as observations
from app.observations.models import Qualifier
from app.observations.schemas import ObservationWrite
from app.quality import service as rules
from app.quality.schemas import RuleWrite
from app.reporting import approvals, assignments
from app.reporting.models import Step
from app.reporting.schemas import ActionWrite, AssignmentWrite
from app.targets import service as targets
from app.targets.models import Operator
from app.targets.schemas import TargetWrite

DATA = Path(__file__).resolve().parent / "data"
ACTOR = "seed"
SEED = Principal(name=ACTOR, role=Role.admin)


@dataclass
class Counts:
    created: dict[str, int] = field(default_factory=dict)
    kept: dict[str, int] = field(default_factory=dict)

    def add(self, kind: str, created: bool) -> None:
        bucket = self.created if created else self.kept
        bucket[kind] = bucket.get(kind, 0) + 1

    def __str__(self) -> str:
        kinds = ("departments", "indicators", "observations", "targets", "assignments", "approvals", "rules")
        made = ", ".join(f"{self.created.get(k, 0)} {k}" for k in kinds)
        return f"created {made}; {sum(self.kept.values())} already present and left as they were"


def rows(name: str) -> Iterator[dict[str, str]]:
    with (DATA / name).open(encoding="utf-8", newline="") as handle:
        yield from csv.DictReader(handle)


def _blank(value: str) -> str | None:
    return value or None


def load(session: Session) -> Counts:
    counts = Counts()
    for row in rows("departments.csv"):
        exists = departments.find_by_code(session, row["code"]) is not None
        if not exists:
            departments.create(
                session,
                data=DepartmentCreate(
                    code=row["code"],
                    name=row["name"],
                    name_en=_blank(row["name_en"]),
                    parent=_blank(row["parent"]),
                ),
                actor=ACTOR,
            )
        counts.add("departments", not exists)
    # (v2) Derived indicators after the indicators their formulas read: computed, never stored.
    for row in (*rows("indicators.csv"), *rows("derived.csv")):
        exists = indicators.find_by_code(session, row["code"]) is not None
        if not exists:
            indicators.create(session, data=IndicatorCreate.model_validate(row), actor=ACTOR)
        counts.add("indicators", not exists)
    for row in rows("observations.csv"):
        cell = _cell(session, row)
        if observations.find(session, cell) is None:
            data = ObservationWrite(
                value=Decimal(row["value"]), qualifier=Qualifier(row["qualifier"]), source=row["source"]
            )
            _, outcome, _ = observations.put(session, cell=cell, data=data, actor=SEED)
            counts.add("observations", outcome is Outcome.created)
        else:
            counts.add("observations", False)
    for row in rows("targets.csv"):
        cell = _cell(session, row)
        if targets.find(session, cell) is None:
            data_t = TargetWrite(
                operator=Operator(row["operator"]),
                value=Decimal(row["value"]),
                upper=Decimal(row["upper"]) if row["upper"] else None,
                source=row["source"],
            )
            _, outcome = targets.put(session, cell=cell, data=data_t, actor=SEED)
            counts.add("targets", outcome is Outcome.created)
        else:
            counts.add("targets", False)
    _assign(session, counts)
    _approve(session, counts)
    _rules(session, counts)
    return counts


def _rules(session: Session, counts: Counts) -> None:
    """Validation rules the report's figures keep (hazards rectified never exceed those found)."""
    for row in rows("rules.csv"):
        exists = rules.find_by_code(session, row["code"]) is not None
        if not exists:
            fields = {k: v for k, v in row.items() if k != "code"}
            rules.put(session, code=row["code"], data=RuleWrite.model_validate(fields))
        counts.add("rules", not exists)


# The report publishes no figure for these yet; urban-management reports them from 2021.
WORK_SHARES = ("enforcement-work-share", "management-work-share", "service-work-share")
APPROVED_YEAR, APPROVED_REASON = 2021, "published in report-2021"


def _assign(session: Session, counts: Counts) -> None:
    """Each figure's indicator to its department from the figure's year, and the work shares."""
    first: dict[tuple[str, str], int] = {}
    for row in rows("observations.csv"):
        pair = (row["indicator"], row["department"])
        first[pair] = min(first.get(pair, int(row["year"])), int(row["year"]))
    for code in WORK_SHARES:
        first[(code, "urban-management")] = APPROVED_YEAR
    for (indicator, department), year in sorted(first.items()):
        try:
            assignments.get(session, indicator=indicator, department=department)
            counts.add("assignments", False)
        except NotFound:
            data = AssignmentWrite(from_year=year)
            assignments.put(session, indicator=indicator, department=department, data=data)
            counts.add("assignments", True)


def _approve(session: Session, counts: Counts) -> None:
    """2021 approved for every department, those below first, missing figures allowed."""
    codes = [row["code"] for row in rows("departments.csv")]
    parents = {row["code"]: row["parent"] for row in rows("departments.csv")}

    def depth(code: str) -> int:
        return 0 if not parents[code] else 1 + depth(parents[code])

    for code in sorted(codes, key=lambda c: (-depth(c), c)):
        if approvals.get(session, department=code, year=APPROVED_YEAR).history:
            counts.add("approvals", False)
            continue
        data = ActionWrite(reason=APPROVED_REASON, allow_missing=True)
        approvals.act(
            session, department=code, year=APPROVED_YEAR, action=Step.approve, data=data, actor=SEED
        )
        counts.add("approvals", True)


def _cell(session: Session, row: dict[str, str]) -> Cell:
    return Cell(
        indicator=indicators.get_by_code(session, row["indicator"]),
        department=departments.get_by_code(session, row["department"]),
        year=int(row["year"]),
    )
