"""The files operators take away: the Decision 766 table (one row per unit) and the
*Biểu II.06a/VPCP/KSTT* report, as CSV and as XLSX.

* Each report is first a :class:`Table` (Vietnamese headers, typed cells); the writers turn
  any table into bytes.
* CSV is UTF-8 with a byte-order mark (so that Excel reads Vietnamese correctly), one header
  row and no title (machine-readable as it is); a Decimal is written as its exact string
  ("93.33"), a missing value as an empty cell.
* XLSX has a title row naming the report, a row naming the period, then one bold header row,
  frozen with the label columns; counts are formatted ``#,##0``, ratios and points ``0.00``.
  Decimals are written as numbers (their digits exactly: at most 16 significant digits).
* Text that a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``, ``@``) is
  kept as text: prefixed with ``'`` in CSV, typed as a string in XLSX.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Literal

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

from services.metrics.domain.figures import Period
from services.metrics.domain.index766 import GROUPS, Index766Policy, IndexScore
from services.metrics.domain.report_ii06a import (
    COUNT_HEADERS,
    FORM,
    LABEL_HEADERS,
    TITLE,
    II06aReport,
    II06aRow,
)
from shared.clock import VN

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

Kind = Literal["text", "count", "ratio", "points"]
Cell = str | int | Decimal | None
NUMBER_FORMATS: dict[Kind, str] = {"count": "#,##0", "ratio": "0.00", "points": "0.00"}
_FORMULA_START = ("=", "+", "-", "@")
_TITLE_ROW, _PERIOD_ROW, _HEADER_ROW = 1, 2, 3


@dataclass(frozen=True)
class Column:
    header: str
    kind: Kind


@dataclass(frozen=True)
class Table:
    title: str
    period: str  # the period, as the second row of the XLSX says it
    sheet: str  # the XLSX sheet's name (at most 31 characters, no / \ ? * [ ] :)
    columns: tuple[Column, ...]
    rows: tuple[tuple[Cell, ...], ...]
    label_columns: int = 0  # frozen with the header row
    bold_last_row: bool = False  # a total row


# ------------------------------------------------------------------ the period
def period_label(p: Period) -> str:
    """The period in a file name: ``2026-11`` for a whole month, else ``2026-11-01_2026-11-15``."""
    first = p.start.astimezone(VN).date()
    last = (p.end - timedelta(seconds=1)).astimezone(VN).date()
    whole_month = first.day == 1 and (last + timedelta(days=1)).day == 1 \
        and (first.year, first.month) == (last.year, last.month)
    return f"{first:%Y-%m}" if whole_month else f"{first.isoformat()}_{last.isoformat()}"


def period_text(p: Period) -> str:
    """``Kỳ báo cáo: từ ngày 01/11/2026 đến ngày 30/11/2026; số liệu tính đến 00:00 01/12/2026``."""
    first = p.start.astimezone(VN)
    last = (p.end - timedelta(seconds=1)).astimezone(VN)
    as_of = p.as_of.astimezone(VN)
    return (f"Kỳ báo cáo: từ ngày {first:%d/%m/%Y} đến ngày {last:%d/%m/%Y}; "
            f"số liệu tính đến {as_of:%H:%M %d/%m/%Y}")


# ------------------------------------------------------------------ the 766 table
@dataclass(frozen=True)
class UnitScore:
    unit_code: str
    name: str
    block: str
    score: IndexScore


def index766_table(units: Sequence[UnitScore], policy: Index766Policy, p: Period) -> Table:
    """One row per unit: code, name, block; each indicator's numerator, denominator, ratio (%)
    (an information-only indicator: its value) and points; each group's score; the total,
    the grade, whether complete and what is missing."""
    columns = [Column("Mã đơn vị", "text"), Column("Tên đơn vị", "text"), Column("Khối", "text")]
    for ind in policy.indicators:
        share = "Giá trị" if ind.source == "info" else "Tỷ lệ (%)"
        columns += [Column(f"{ind.id} {ind.name_vi}: Tử số", "count"),
                    Column(f"{ind.id} {ind.name_vi}: Mẫu số", "count"),
                    Column(f"{ind.id} {ind.name_vi}: {share}", "ratio"),
                    Column(f"{ind.id} {ind.name_vi}: Điểm (tối đa {ind.max_points})", "points")]
    columns += [Column(f"Điểm nhóm {name} (tối đa {policy.group_max(gid)})", "points")
                for gid, name, _ in GROUPS]
    columns += [Column("Tổng điểm", "points"), Column("Xếp loại", "text"),
                Column("Đủ dữ liệu", "text"), Column("Chỉ số chưa có số liệu", "text")]
    rows = tuple(_index766_row(u, policy) for u in units)
    return Table("Bộ chỉ số 766 (Quyết định 766/QĐ-TTg): điểm theo đơn vị", period_text(p),
                 "Chỉ số 766", tuple(columns), rows, label_columns=2)


def _index766_row(u: UnitScore, policy: Index766Policy) -> tuple[Cell, ...]:
    s = u.score
    scores = {i.id: i for i in s.indicators}
    groups = {g.id: g.score for g in s.groups}
    cells: list[Cell] = [u.unit_code, u.name, u.block]
    for ind in policy.indicators:
        i = scores[ind.id]
        cells += [i.numerator, i.denominator, i.value if ind.source == "info" else i.ratio, i.points]
    cells += [groups[gid] for gid, _, _ in GROUPS]
    cells += [s.total, s.grade.label_vi, "Có" if s.complete else "Chưa", ", ".join(s.missing)]
    return tuple(cells)


# ------------------------------------------------------------------ the II.06a table
def ii06a_table(report: II06aReport) -> Table:
    """One row per field and unit, then the total row."""
    columns = tuple([Column(h, "text") for _, h in LABEL_HEADERS]
                    + [Column(h, "count") for _, h in COUNT_HEADERS])
    rows = tuple(_ii06a_row(r) for r in (*report.rows, report.total))
    return Table(f"{FORM}: {TITLE}", period_text(report.period), "Biểu II.06a", columns, rows,
                 label_columns=len(LABEL_HEADERS), bold_last_row=True)


def _ii06a_row(r: II06aRow) -> tuple[Cell, ...]:
    return (r.field, r.unit_code, r.unit_name, *(r.counts.value(key) for key, _ in COUNT_HEADERS))


# ------------------------------------------------------------------ writers
def _csv_cell(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return str(value)


def to_csv(table: Table) -> bytes:
    """The header row and the rows, UTF-8 with a byte-order mark, CRLF line ends."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([c.header for c in table.columns])
    writer.writerows([_csv_cell(v) for v in row] for row in table.rows)
    return out.getvalue().encode("utf-8-sig")


def to_xlsx(table: Table) -> bytes:
    """One sheet: the title, the period, the frozen bold header row, the rows."""
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = table.sheet
    wb.properties.title = table.title
    wb.properties.creator = "Một cửa"
    width = max(len(table.columns), 1)
    ws.cell(_TITLE_ROW, 1, table.title).font = Font(bold=True, size=14)
    ws.cell(_PERIOD_ROW, 1, table.period).font = Font(italic=True)
    for row in (_TITLE_ROW, _PERIOD_ROW):
        ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=width)
    header_lines = 1
    for col, column in enumerate(table.columns, start=1):
        cell = ws.cell(_HEADER_ROW, col, column.header)
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="center", horizontal="center")
        chars = _width(column, [row[col - 1] for row in table.rows])
        ws.column_dimensions[get_column_letter(col)].width = chars
        header_lines = max(header_lines, -(-len(column.header) // int(chars - 1)))
    ws.row_dimensions[_HEADER_ROW].height = 15 * min(header_lines, 8)
    for r, values in enumerate(table.rows, start=_HEADER_ROW + 1):
        bold = table.bold_last_row and r == _HEADER_ROW + len(table.rows)
        for col, (column, value) in enumerate(zip(table.columns, values, strict=True), start=1):
            cell = ws.cell(r, col, value)
            if isinstance(value, str) and cell.data_type == "f":
                cell.data_type = "s"  # text, not a formula
            if column.kind != "text":
                cell.number_format = NUMBER_FORMATS[column.kind]
            if bold:
                cell.font = Font(bold=True)
    ws.freeze_panes = ws.cell(_HEADER_ROW + 1, table.label_columns + 1).coordinate
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _width(column: Column, values: Sequence[Cell]) -> float:
    """Wide enough for the values and the header's longest word, at most 60 characters."""
    longest_value = max((len(_csv_cell(v)) for v in values), default=0)
    longest_word = max((len(w) for w in column.header.split()), default=0)
    floor = 24 if column.kind == "text" else 12
    return float(min(60, max(longest_value + 2, longest_word + 2, min(floor, len(column.header) + 2))))


# ------------------------------------------------------------------ the reports as files
def index766_csv(units: Sequence[UnitScore], policy: Index766Policy, p: Period) -> bytes:
    return to_csv(index766_table(units, policy, p))


def index766_xlsx(units: Sequence[UnitScore], policy: Index766Policy, p: Period) -> bytes:
    return to_xlsx(index766_table(units, policy, p))


def ii06a_csv(report: II06aReport) -> bytes:
    return to_csv(ii06a_table(report))


def ii06a_xlsx(report: II06aReport) -> bytes:
    return to_xlsx(ii06a_table(report))
