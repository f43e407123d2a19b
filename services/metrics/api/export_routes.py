"""Reports as files: the Decision 766 table of every unit and the *Biểu II.06a/VPCP/KSTT*
report, each as JSON, CSV (UTF-8 with a byte-order mark) or XLSX (docs/rules/index766.md)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from services.metrics.adapters.exports import (
    CSV_MEDIA_TYPE,
    XLSX_MEDIA_TYPE,
    Table,
    UnitScore,
    ii06a_table,
    index766_table,
    period_label,
    to_csv,
    to_xlsx,
)
from services.metrics.api.index766_routes import Index, Index766View, refusals, view
from services.metrics.api.routes import (
    FIGURES_SECURITY,
    PeriodView,
    QueriedPeriod,
    Readable,
    _pv,
    check_block,
)
from services.metrics.domain.figures import Period
from services.metrics.domain.index766 import IndexScore
from services.metrics.domain.report_ii06a import (
    COUNT_HEADERS,
    FORM,
    II06aReport,
    II06aRow,
)
from services.metrics.service_layer.index766 import Index766, UnitIndex
from shared.docs import answers

router = APIRouter(prefix="/v1/metrics")
ExportFormat = Literal["json", "csv", "xlsx"]
FormatQ = Annotated[ExportFormat, Query(alias="format", description="json, csv (UTF-8 with a "
                                        "byte-order mark, for Excel) or xlsx")]
FILES: dict[int | str, dict[str, Any]] = {200: {"content": {
    CSV_MEDIA_TYPE: {"schema": {"type": "string"}},
    XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}}}}


def exported(table: Table, fmt: ExportFormat, name: str, p: Period) -> Response:
    """The table as a CSV or XLSX attachment named after the report and the period."""
    body, media, ext = (to_csv(table), CSV_MEDIA_TYPE, "csv") if fmt == "csv" else \
        (to_xlsx(table), XLSX_MEDIA_TYPE, "xlsx")
    filename = f"{name}_{period_label(p)}.{ext}"
    return Response(body, media_type=media,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


# ------------------------------------------------------------------ the 766 table
class Index766Table(BaseModel):
    period: PeriodView
    block: str | None = Field(description="the block asked for; null: every unit")
    units: list[Index766View]


def unit_scores(index: Index766, scores: dict[str, IndexScore], block: str | None,
                p: Period) -> list[UnitScore]:
    """The rulebook's units that exist at the period's end (of ``block`` if given) in its
    order, each with its score (merged units rolled in).

    :raises Problem: 422 for a block no unit is in."""
    if block is not None:
        check_block(index.rulebook, block)
    return [UnitScore(u.code, u.name, u.block, scores[u.code])
            for u in index.rulebook.in_force(p.last_day) if block is None or u.block == block]


def index766_json(units: Sequence[UnitScore], index: Index766, p: Period,
                  block: str | None) -> Index766Table:
    return Index766Table(period=_pv(p), block=block, units=[
        view(UnitIndex(u.unit_code, index.units_of(u.unit_code, False, p), p, u.score), index,
             False) for u in units])


@router.get("/index766/export", response_model=Index766Table, tags=["index766"],
            summary="The Decision 766 table: every unit (of a block) with each indicator's "
                    "counts, ratio and points, the groups, the total and the grade",
            dependencies=[Readable], openapi_extra=FIGURES_SECURITY,
            responses=answers(422, also=FILES))
async def export_index766(p: QueriedPeriod, index: Index, fmt: FormatQ = "json",
                          block: Annotated[str | None, Query(max_length=32)] = None,
                          ) -> Index766Table | Response:
    units = unit_scores(index, await index.all_units(p), block, p)
    if fmt == "json":
        return index766_json(units, index, p, block)
    return exported(index766_table(units, index.policy, p), fmt, "index766", p)


# ------------------------------------------------------------------ Biểu II.06a
class II06aRowView(BaseModel):
    field: str = Field(description="lĩnh vực; «Tổng cộng» on the total row")
    unit_code: str
    unit_name: str
    received: int = Field(description="online + counter_postal + carried_over")
    online: int
    counter_postal: int
    carried_over: int = Field(description="received before the period, open at its start")
    resolved: int = Field(description="resolved in the period: early + on_time + late")
    early: int
    on_time: int
    late: int
    in_progress: int = Field(description="open at the period's end (or as_of if earlier)")
    within_time: int
    overdue: int
    ended_otherwise: int = Field(description="rejected, stopped or withdrawn in the period "
                                             "(not on the national form)")


class II06aView(BaseModel):
    form: str = FORM
    period: PeriodView
    unit_code: str | None = Field(description="the unit asked for; null: every unit")
    include_subunits: bool
    headers: dict[str, str] = Field(description="each count's Vietnamese column header")
    rows: list[II06aRowView]
    total: II06aRowView


def _row_view(r: II06aRow) -> II06aRowView:
    return II06aRowView.model_validate({"field": r.field, "unit_code": r.unit_code,
                                        "unit_name": r.unit_name, **vars(r.counts)})


def ii06a_json(report: II06aReport, unit: str | None, include_subunits: bool) -> II06aView:
    return II06aView(period=_pv(report.period), unit_code=unit, include_subunits=include_subunits,
                     headers=dict(COUNT_HEADERS), rows=[_row_view(r) for r in report.rows],
                     total=_row_view(report.total))


@router.get("/reports/ii06a", response_model=II06aView, tags=["index766"],
            summary="Biểu II.06a/VPCP/KSTT: dossiers received, resolved (early, on time, late) "
                    "and in progress (within time, overdue) per field and unit, with the total",
            dependencies=[Readable], openapi_extra=FIGURES_SECURITY,
            responses=answers(404, 422, said={404: "unknown unit"}, also=FILES))
async def report_ii06a(p: QueriedPeriod, index: Index, fmt: FormatQ = "json",
                       unit: Annotated[str | None, Query(max_length=32)] = None,
                       include_subunits: bool = False) -> II06aView | Response:
    with refusals():
        units = None if unit is None else index.units_of(unit, include_subunits, p)
    report = await index.ii06a(p, units)
    if fmt == "json":
        return ii06a_json(report, unit, include_subunits)
    return exported(ii06a_table(report), fmt, f"ii06a_{unit}" if unit else "ii06a", p)
