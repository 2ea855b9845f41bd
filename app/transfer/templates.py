"""Fill-in workbooks: what a department reports, or what targets a year needs, ready for a clerk to
complete in a spreadsheet program and upload as it is.

Which rows a template has is decided in one small function each (`template_indicators`,
`target_pairs`), so that the reporting cycle can base them on assignments instead.
The import columns come first, in the template's language, then display columns the import
skips (names, unit, last year's figure or target). Rows left blank upload as skipped rows.
"""

import io
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import ColumnElement, select, true
from sqlalchemy.orm import Session

from app.core.json import decimal_text
from app.core.tables import sheet_number, sheet_text
from app.departments.models import Department
from app.indicators.models import Indicator
from app.observations.models import Observation
from app.reporting.assignments import in_force
from app.reporting.models import Assignment
from app.targets.models import Operator, Target
from app.transfer import words
from app.transfer.formats import FIELDS, HEADER_ZH, TARGET_FIELDS, TARGET_HEADER_ZH

Lang = Literal["zh", "en"]
DISPLAY = {"zh": ("指标名称", "单位", "上年数值"), "en": ("indicator_name", "unit", "previous_value")}
TARGET_DISPLAY = {
    "zh": ("指标名称", "部门名称", "单位", "上年目标"),
    "en": ("indicator_name", "department_name", "unit", "previous_target"),
}


def _not_derived() -> ColumnElement[bool]:
    """Indicators entered by people: a derived one (with a `formula`, where the catalogue has that
    column) is computed, never filled in."""
    formula = getattr(Indicator, "formula", None)
    return true() if formula is None else formula.is_(None)


def template_indicators(session: Session, department: Department, year: int) -> list[Indicator]:
    """The indicators a department's template for `year` lists: those assigned to it that year
    (app.reporting), derived ones excluded."""
    return list(
        session.scalars(
            select(Indicator)
            .join(Assignment, Assignment.indicator_id == Indicator.id)
            .where(Assignment.department_id == department.id, in_force(year), _not_derived())
            .order_by(Indicator.code)
        )
    )


def target_pairs(session: Session, year: int) -> list[tuple[Indicator, Department]]:
    """The (indicator, department) pairs the targets template for `year` lists: the year's
    assignments, derived indicators excluded."""
    rows = session.execute(
        select(Indicator, Department)
        .join(Assignment, Assignment.indicator_id == Indicator.id)
        .join(Department, Department.id == Assignment.department_id)
        .where(in_force(year), _not_derived())
        .order_by(Department.code, Indicator.code)
    ).all()
    return [(i, d) for i, d in rows]


def _name(lang: Lang, name: str, name_en: str | None) -> str:
    return name_en or name if lang == "en" else name


def workbook(session: Session, *, department: Department, year: int, lang: Lang = "zh") -> bytes:
    """A department's figures for `year` to fill in: one row per indicator it reports, values empty,
    last year's figure beside each for reference."""
    indicators = template_indicators(session, department, year)
    previous = dict(
        session.execute(
            select(Observation.indicator_id, Observation.value).where(
                Observation.department_id == department.id, Observation.year == year - 1
            )
        ).all()
    )
    header = [*(HEADER_ZH if lang == "zh" else FIELDS), *DISPLAY[lang]]
    rows = [
        [
            indicator.code,
            department.code,
            year,
            None,
            None,
            None,
            None,
            _name(lang, indicator.name, indicator.name_en),
            indicator.unit,
            _number(previous.get(indicator.id)),
        ]
        for indicator in indicators
    ]
    choices = ("E", words.qualifier_words(lang))
    widths = (28, 24, 8, 14, 14, 30, 30, 40, 8, 14)
    return _fill_in(f"{department.code} {year}", header, rows, choices, widths)


def targets_workbook(session: Session, *, year: int, lang: Lang = "zh") -> bytes:
    """The targets of `year` to fill in: one row per (indicator, department) that year should have a
    target for, the operator of last year's target filled in and the target itself beside."""
    pairs = target_pairs(session, year)
    previous = {
        (t.indicator_id, t.department_id): t
        for t in session.scalars(select(Target).where(Target.year == year - 1))
    }
    header = [*(TARGET_HEADER_ZH if lang == "zh" else TARGET_FIELDS), *TARGET_DISPLAY[lang]]
    rows = []
    for indicator, department in pairs:
        before = previous.get((indicator.id, department.id))
        operator = None if before is None else _operator_word(lang, before.operator)
        rows.append(
            [
                indicator.code,
                department.code,
                year,
                operator,
                None,
                None,
                None,
                None,
                _name(lang, indicator.name, indicator.name_en),
                _name(lang, department.name, department.name_en),
                indicator.unit,
                None if before is None else _target_text(lang, before.operator, before.value, before.upper),
            ]
        )
    choices = ("D", words.operator_words(lang))
    widths = (28, 24, 8, 10, 12, 12, 30, 30, 40, 30, 8, 20)
    return _fill_in(f"targets {year}", header, rows, choices, widths)


def _number(value: Decimal | None) -> Any:
    return None if value is None else sheet_number(value)


def _operator_word(lang: Lang, operator: Operator) -> str:
    return words.OPERATOR_ZH[operator] if lang == "zh" else operator.value


def _target_text(lang: Lang, operator: Operator, value: Decimal, upper: Decimal | None) -> str:
    """Last year's target as one reads it: 不低于 75, 介于 200 至 300 (between 200 and 300)."""
    word = _operator_word(lang, operator)
    if upper is None:
        return f"{word} {decimal_text(value)}"
    joint = "至" if lang == "zh" else "and"
    return f"{word} {decimal_text(value)} {joint} {decimal_text(upper)}"


def _fill_in(
    title: str,
    header: Sequence[str],
    rows: Sequence[Sequence[Any]],
    choices: tuple[str, Sequence[str]],
    widths: Sequence[int],
) -> bytes:
    """One sheet: the header, frozen; the rows, text written as text; a drop-down list of the words
    `choices` gives for its column."""
    from openpyxl import Workbook
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = title[:31]  # codes and a year: nothing a sheet's title refuses
    sheet.append(list(header))
    for row in rows:
        sheet.append([sheet_text(sheet, v) if isinstance(v, str) else v for v in row])
    column, allowed = choices
    drop_down = DataValidation(type="list", formula1='"' + ",".join(allowed) + '"', allow_blank=True)
    sheet.add_data_validation(drop_down)
    drop_down.add(f"{column}2:{column}{max(2, len(rows) + 1)}")
    for index, width in enumerate(widths, 1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
