"""Fill-in workbooks: what a department reports, ready for its clerk to complete and upload."""

import io

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.tables import sheet_text
from app.departments.models import Department
from app.indicators.models import Indicator
from app.observations.models import Qualifier
from app.reporting.assignments import in_force
from app.reporting.models import Assignment
from app.transfer.formats import FIELDS

TEMPLATE_DISPLAY = ("indicator_name", "unit")


def workbook(session: Session, *, department: Department, year: int) -> bytes:
    """A workbook to fill in: one row per indicator the department reports, values empty.

    The indicators it reports are those assigned to it for the year (app.reporting). The name and unit columns
    come after the import columns; the importer knows them and skips them.
    """
    from openpyxl import Workbook
    from openpyxl.worksheet.datavalidation import DataValidation

    indicators = session.execute(
        select(Indicator.code, Indicator.name, Indicator.unit)
        .join(Assignment, Assignment.indicator_id == Indicator.id)
        .where(Assignment.department_id == department.id, in_force(year))
        .order_by(Indicator.code)
    ).all()
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = f"{department.code} {year}"[:31]
    sheet.append([*FIELDS, *TEMPLATE_DISPLAY])
    for code, name, unit in indicators:
        display = [sheet_text(sheet, name), sheet_text(sheet, unit)]
        sheet.append([code, department.code, year, None, None, None, None, *display])
    qualifiers = DataValidation(
        type="list", formula1='"' + ",".join(q.value for q in Qualifier) + '"', allow_blank=True
    )
    sheet.add_data_validation(qualifiers)
    qualifiers.add(f"E2:E{max(2, len(indicators) + 1)}")
    for column, width in zip("ABCDEFGHI", (28, 24, 8, 14, 14, 30, 30, 40, 8), strict=True):
        sheet.column_dimensions[column].width = width
    sheet.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
