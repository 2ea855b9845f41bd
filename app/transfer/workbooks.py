"""Workbooks as a clerk sees them: each cell of the first sheet as it shows, each row with the number
a spreadsheet program gives it.

A cell formatted as a percentage (`78%`, stored 0.78) is 78; a binary float is read as the shortest
decimal that gives it back (a `SheetNumber`, which the row checks round to 6 places with a
warning); a formula saved without its result is NO_RESULT, which the row checks refuse saying so.
"""

import re
import zipfile
from collections.abc import Iterator
from decimal import Decimal
from typing import IO, Any, Final

from app.core.problems import FieldError, InvalidValue


class _NoResult:
    def __repr__(self) -> str:
        return "NO_RESULT"


NO_RESULT: Final = _NoResult()  # a workbook's formula cell saved without its result


class SheetNumber(Decimal):
    """A workbook's binary float as the shortest decimal that gives it back (or such a cell formatted
    as a percentage, times 100): more than 6 decimals are rounded, with a warning, not refused."""


def lines(source: IO[bytes]) -> Iterator[tuple[int, list[Any]]]:
    """The first sheet's rows of an .xlsx workbook, streamed (openpyxl read-only), with their numbers;
    422 for a workbook that cannot be read."""
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = load_workbook(source, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError) as exc:
        raise InvalidValue(
            f"The workbook cannot be read ({type(exc).__name__}: {exc}); is it a valid .xlsx file?",
            errors=[FieldError(["body"], "broken or not an .xlsx workbook", "xlsx")],
        ) from None
    try:
        if not book.worksheets:
            raise InvalidValue("The workbook has no sheet", errors=[FieldError(["body"], "no sheet", "xlsx")])
        yield from _sheet_lines(book, book.worksheets[0])
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, SyntaxError) as exc:
        # A sheet is parsed as it is read: a damaged one shows here (ParseError is a SyntaxError).
        raise InvalidValue(
            f"The workbook's first sheet cannot be read ({type(exc).__name__}: {exc})",
            errors=[FieldError(["body"], "broken .xlsx workbook", "xlsx")],
        ) from None
    finally:
        book.close()


def _percent_styles(book: Any) -> frozenset[int]:
    """The workbook's cell styles whose number format shows a percentage (`0%`, `0.0%`)."""
    from openpyxl.styles.numbers import BUILTIN_FORMATS, BUILTIN_FORMATS_MAX_SIZE

    found = set()
    for index, style in enumerate(book._cell_styles):
        number_format = style.numFmtId
        if number_format < BUILTIN_FORMATS_MAX_SIZE:
            text = BUILTIN_FORMATS.get(number_format, "General")
        else:
            text = book._number_formats[number_format - BUILTIN_FORMATS_MAX_SIZE]
        shown = re.sub(r'"[^"]*"|\\.|\[[^\]]*\]', "", text)  # quoted text, escapes, [colours]
        if "%" in shown:
            found.add(index)
    return frozenset(found)


def _sheet_lines(book: Any, sheet: Any) -> Iterator[tuple[int, list[Any]]]:
    """A read-only sheet's rows with their numbers, each cell as it shows.

    openpyxl's own row iterator numbers rows from the sheet's recorded dimensions (which some
    writers get wrong) and reads a formula without a result as an empty cell; its worksheet parser,
    extended by a cell, gives both the rows' own numbers and what a cell holds.
    """
    from openpyxl.worksheet._reader import FORMULA_TAG, WorkSheetParser

    percent = _percent_styles(book)

    class Parser(WorkSheetParser):
        def parse_cell(self, element: Any) -> dict[str, Any]:
            cell: dict[str, Any] = super().parse_cell(element)
            value = cell["value"]
            if value is None:
                if element.find(FORMULA_TAG) is not None:
                    cell["value"] = NO_RESULT
            elif type(value) is float:
                shown = SheetNumber(repr(value))
                cell["value"] = SheetNumber(shown.scaleb(2)) if cell["style_id"] in percent else shown
            elif type(value) is int and cell["style_id"] in percent:
                cell["value"] = value * 100
            return cell

    with sheet._get_source() as xml:
        parser = Parser(
            xml,
            sheet._shared_strings,
            data_only=True,
            epoch=book.epoch,
            date_formats=book._date_formats,
            timedelta_formats=book._timedelta_formats,
        )
        for number, cells in parser.parse():
            line: list[Any] = [None] * (max((c["column"] for c in cells), default=0))
            for cell in cells:
                line[cell["column"] - 1] = cell["value"]
            yield number, line
