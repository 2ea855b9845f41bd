"""Fill-in workbooks: what a department reports, ready for its clerk to complete and upload."""

import io

from sqlalchemy import select, union
from sqlalchemy.orm import Session

from app.core.tables import sheet_text
from app.departments.models import Department
from app.indicators.models import Indicator
from app.observations.models import Observation, Qualifier
from app.targets.models import Target
from app.transfer.formats import FIELDS

TEMPLATE_DISPLAY = ("indicator_name", "unit")


def workbook(session: Session, *, department: Department, year: int) -> bytes:
    """A workbook to fill in: one row per indicator the department reports, values empty.

    The indicators it reports are those it has figures or targets for. The name and unit columns
    come after the import columns; the importer knows them and skips them.
    """
    from openpyxl import Workbook
    from openpyxl.worksheet.datavalidation import DataValidation

    reported = union(
        select(Observation.indicator_id).where(Observation.department_id == department.id),
        select(Target.indicator_id).where(Target.department_id == department.id),
    ).subquery()
    indicators = session.execute(
        select(Indicator.code, Indicator.name, Indicator.unit)
        .where(Indicator.id.in_(select(reported.c[0])))
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
