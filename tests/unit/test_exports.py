"""Biểu II.06a/VPCP/KSTT from a hand-computed scenario, its invariants, the Vietnamese order of
its rows; the CSV and XLSX writers read back (BOM, headers, values, number formats, frozen
panes); the export routes over a fake pool.

Period: November 2026 in local time, judged at its end (1/12 00:00 +07), as in
test_metrics_golden. Procedures and their fields from the demo rulebook: P3 = 1.011946
("Khám bệnh, chữa bệnh"), P4 = 2.001229 ("An toàn thực phẩm và dinh dưỡng"); PX has none.

| dossier | unit | channel | received | due | end | counts as |
|---|---|---|---|---|---|---|
| A1  | H26.06 | online  | 2/11     | 5/11 17:00  | resolved 4/11         | online, resolved early |
| A2  | H26.06 | counter | 2/11     | 5/11 17:00  | resolved 5/11 16:00   | counter, resolved on time |
| A3  | H26.06 | postal  | 2/11     | 5/11 17:00  | resolved 6/11         | counter/post, resolved late |
| A4  | H26.06 | counter | 30/10    | 4/11 17:00  | resolved 3/11         | carried over, resolved early |
| A5  | H26.06 | counter | 26/10    | 29/10 17:00 | open                  | carried over, overdue |
| A6  | H26.06 | online  | 16/11    | 19/11 17:00 | open                  | online, overdue |
| A7  | H26.06 | counter | 30/11 10:00 | 3/12 17:00 | open                | counter, within time |
| A8  | H26.06 | online  | 2/11     | 5/11 17:00  | withdrawn 3/11        | online, ended otherwise |
| A9  | H26.06 | counter | 26/10    | 29/10 17:00 | resolved 28/10        | not in the population |
| A10 | H26.06 | counter | 9/11     | 12/11 17:00 | rejected 10/11 10:00  | counter, ended otherwise |
| A11 | H26.06 | counter | 2/11     | 5/11 17:00  | resolved 2/12 (after) | counter, overdue |
| A12 | H26.06 | counter | 1/12 00:30 | 4/12 17:00 | open                | not in November |
| B1  | H26.06.01 | counter | 2/11  | 5/11 17:00  | resolved 6/11         | counter, resolved late |
| B2  | H26.06 | online  | 9/11     | 12/11 17:00 | resolved 12/11 10:00  | online, resolved on time |
| B3  | H26.06 | postal  | 20/10    | 23/10 17:00 | resolved 2/11         | carried over, resolved late |
| C1  | H26.06 | online  | 10/11    | 13/11 17:00 | open                  | online, overdue (no field) |
"""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import fields
from datetime import date, datetime
from typing import Any, cast

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet

from services.metrics.adapters.exports import (
    CSV_MEDIA_TYPE,
    XLSX_MEDIA_TYPE,
    UnitScore,
    ii06a_csv,
    ii06a_xlsx,
    index766_csv,
    index766_xlsx,
    period_label,
)
from services.metrics.api.export_routes import router
from services.metrics.api.routes import may_read, query_period
from services.metrics.domain.facts import EventRecord, Facts, fold
from services.metrics.domain.figures import Period
from services.metrics.domain.index766 import DEFAULT_POLICY, Counts, IndexScore, score_index
from services.metrics.domain.report_ii06a import (
    COUNT_HEADERS,
    FORM,
    TOTAL_LABEL,
    UNKNOWN_FIELD,
    II06aCounts,
    II06aReport,
    fields_of,
    ii06a,
    unit_code_key,
    vietnamese_key,
)
from services.metrics.service_layer.index766 import Index766
from shared.problems import install_problem_handlers
from shared.runtime import provided
from tests.unit.test_metrics_golden import NOVEMBER, RB, VN, ev, resolved, t

P3, P4 = "1.011946", "2.001229"
FIELDS = fields_of(RB)
FOOD = "An toàn thực phẩm và dinh dưỡng"
NAMES = {"H26.06": "Sở Y tế", "H26.06.01": "Chi cục An toàn vệ sinh thực phẩm"}
BOM = b"\xef\xbb\xbf"


def filed(code: str, at: datetime, due: datetime, *, procedure: str = P3,
          unit: str = "H26.06", channel: str = "counter") -> EventRecord:
    return ev("dossier.received", at, dossier_code=code, unit_code=unit, procedure_code=procedure,
              channel=channel, received_at=at.isoformat(), counted_from=at.isoformat(),
              due_at=due.isoformat(), processing_days=3, return_method="counter")


def ended(kind: str, at: datetime) -> EventRecord:
    return ev(f"dossier.{kind}", at, at=at.isoformat())


SCENARIO: dict[str, list[EventRecord]] = {
    "A1": [filed("A1", t(2, 11), t(5, 11, 17), channel="online"), resolved(t(4, 11, 10))],
    "A2": [filed("A2", t(2, 11), t(5, 11, 17)), resolved(t(5, 11, 16))],
    "A3": [filed("A3", t(2, 11), t(5, 11, 17), channel="postal"), resolved(t(6, 11, 10))],
    "A4": [filed("A4", t(30, 10), t(4, 11, 17)), resolved(t(3, 11, 10))],
    "A5": [filed("A5", t(26, 10), t(29, 10, 17))],
    "A6": [filed("A6", t(16, 11), t(19, 11, 17), channel="online")],
    "A7": [filed("A7", t(30, 11, 10), t(3, 12, 17))],
    "A8": [filed("A8", t(2, 11), t(5, 11, 17), channel="online"), ended("withdrawn", t(3, 11, 10))],
    "A9": [filed("A9", t(26, 10), t(29, 10, 17)), resolved(t(28, 10, 10))],
    "A10": [filed("A10", t(9, 11), t(12, 11, 17)), ended("rejected", t(10, 11, 10))],
    "A11": [filed("A11", t(2, 11), t(5, 11, 17)), resolved(t(2, 12, 10))],
    "A12": [filed("A12", t(1, 12, 0, 30), t(4, 12, 17))],
    "B1": [filed("B1", t(2, 11), t(5, 11, 17), procedure=P4, unit="H26.06.01"),
           resolved(t(6, 11, 10))],
    "B2": [filed("B2", t(9, 11), t(12, 11, 17), procedure=P4, channel="online"),
           resolved(t(12, 11, 10))],
    "B3": [filed("B3", t(20, 10), t(23, 10, 17), procedure=P4, channel="postal"),
           resolved(t(2, 11, 10))],
    "C1": [filed("C1", t(10, 11), t(13, 11, 17), procedure="PX", channel="online")],
}

# (received, online, counter_postal, carried_over, resolved, early, on_time, late,
#  in_progress, within_time, overdue, ended_otherwise), by hand from the table above.
EXPECTED = [
    (FOOD, "H26.06", (2, 1, 0, 1, 2, 0, 1, 1, 0, 0, 0, 0)),
    (FOOD, "H26.06.01", (1, 0, 1, 0, 1, 0, 0, 1, 0, 0, 0, 0)),
    ("Khám bệnh, chữa bệnh", "H26.06", (10, 3, 5, 2, 4, 2, 1, 1, 4, 1, 3, 2)),
    (UNKNOWN_FIELD, "H26.06", (1, 1, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0)),
]
EXPECTED_TOTAL = (14, 5, 6, 3, 7, 2, 2, 3, 5, 1, 4, 2)


def scenario_facts() -> list[Facts]:
    return [fold(code, events, RB) for code, events in SCENARIO.items()]


def report(p: Period = NOVEMBER) -> II06aReport:
    return ii06a(scenario_facts(), p, FIELDS, NAMES)


def counts_tuple(c: II06aCounts) -> tuple[int, ...]:
    return tuple(c.value(key) for key, _ in COUNT_HEADERS)


# ------------------------------------------------------------------ the report
def test_the_hand_computed_report_row_by_row() -> None:
    r = report()
    assert [(row.field, row.unit_code, counts_tuple(row.counts)) for row in r.rows] == EXPECTED
    assert [row.unit_name for row in r.rows] == ["Sở Y tế", "Chi cục An toàn vệ sinh thực phẩm",
                                                 "Sở Y tế", "Sở Y tế"]
    assert (r.total.field, r.total.unit_code) == (TOTAL_LABEL, "")
    assert counts_tuple(r.total.counts) == EXPECTED_TOTAL
    assert r.period == NOVEMBER


def test_a_later_as_of_still_reports_the_state_at_the_periods_end() -> None:
    """A11 was resolved on 2/12: judged at 3/12 it is still in progress (overdue) in November,
    not dropped from both columns."""
    later = Period.of(date(2026, 11, 1), date(2026, 11, 30), datetime(2026, 12, 3, tzinfo=VN),
                      now=datetime(2027, 1, 1, tzinfo=VN))
    assert report(later) == II06aReport(later, report().rows, report().total)


def test_an_earlier_as_of_judges_the_open_dossiers_then() -> None:
    """At 10/11 12:00: B2 (resolved 12/11) and C1 are within time; A6, A7 not yet received;
    A10 was rejected at 10:00; A5 and A11 are overdue, A3 already resolved late."""
    mid = Period.of(date(2026, 11, 1), date(2026, 11, 30), datetime(2026, 11, 10, 12, tzinfo=VN),
                    now=datetime(2027, 1, 1, tzinfo=VN))
    rows = {(row.field, row.unit_code): counts_tuple(row.counts) for row in report(mid).rows}
    assert rows == {
        (FOOD, "H26.06"): (2, 1, 0, 1, 1, 0, 0, 1, 1, 1, 0, 0),
        (FOOD, "H26.06.01"): (1, 0, 1, 0, 1, 0, 0, 1, 0, 0, 0, 0),
        ("Khám bệnh, chữa bệnh", "H26.06"): (8, 2, 4, 2, 4, 2, 1, 1, 2, 0, 2, 2),
        (UNKNOWN_FIELD, "H26.06"): (1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0),
    }


def test_an_empty_population_gives_no_rows_and_a_zero_total() -> None:
    r = ii06a([], NOVEMBER, FIELDS)
    assert r.rows == () and r.total.counts == II06aCounts() and r.total.field == TOTAL_LABEL


def test_fields_sort_in_vietnamese_order_and_units_by_their_codes() -> None:
    words = ["Đường bộ", "Việc làm", "Ắc quy", "Dược phẩm", "An toàn", "Đất đai", "Âm nhạc",
             "Ơn", "Ô tô", "O", "Hộ tịch", "Hồ sơ", "Hô"]
    assert sorted(words, key=vietnamese_key) == [
        "An toàn", "Ắc quy", "Âm nhạc", "Dược phẩm", "Đất đai", "Đường bộ", "Hô", "Hồ sơ",
        "Hộ tịch", "O", "Ô tô", "Ơn", "Việc làm"]
    codes = ["H26.101", "H26.11", "H26.06.01", "H26.06", "H26.2"]
    assert sorted(codes, key=unit_code_key) == ["H26.2", "H26.06", "H26.06.01", "H26.11", "H26.101"]


_moments = st.integers(min_value=-40, max_value=70).map(
    lambda d: datetime(2026, 11, 1, tzinfo=VN).replace(hour=9) + (t(2, 11) - t(1, 11)) * d / 2)


@st.composite
def any_facts(draw: st.DrawFn) -> Facts:
    received_at, due_at = draw(_moments), draw(_moments)
    end_at = draw(st.none() | _moments)
    kind = draw(st.sampled_from(["resolved", "rejected", "stopped", "withdrawn", "returned"]))
    return Facts(
        draw(st.text(min_size=1, max_size=4)), unit_code=draw(st.sampled_from(["U1", "U2", None])),
        procedure_code=draw(st.sampled_from([P3, P4, "PX", None])),
        channel=draw(st.sampled_from(["online", "counter", "postal", None])),
        received_at=received_at, due_at=due_at, effective_due_at=due_at, end_at=end_at,
        end_kind=kind if end_at else None,
        closed_timeliness=draw(st.sampled_from(["early", "on_time", "late"])) if end_at else None,
        pending_pause_since=draw(st.none() | _moments) if end_at is None else None)


@settings(max_examples=200, deadline=None)
@given(st.lists(any_facts(), max_size=30), _moments)
def test_every_row_and_the_total_add_up(facts: list[Facts], as_of: datetime) -> None:
    p = Period.of(date(2026, 11, 1), date(2026, 11, 30), as_of, now=as_of)
    r = ii06a(facts, p, FIELDS)
    for c in (*(row.counts for row in r.rows), r.total.counts):
        assert c.received == c.online + c.counter_postal + c.carried_over
        assert c.received == c.resolved + c.in_progress + c.ended_otherwise
        assert c.resolved == c.early + c.on_time + c.late
        assert c.in_progress == c.within_time + c.overdue
    assert r.total.counts == sum((row.counts for row in r.rows), II06aCounts())
    assert r.total.counts.received == sum(1 for f in facts if f.received_at is not None
                                          and f.received_at < p.end and f.received_at <= p.as_of
                                          and (f.received_at >= p.start or f.end_at is None
                                               or f.end_at >= p.start))
    keys = [(row.field == UNKNOWN_FIELD, vietnamese_key(row.field), unit_code_key(row.unit_code))
            for row in r.rows]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)


def test_the_headers_are_the_forms() -> None:
    assert [f.name for f in fields(II06aCounts)] == [key for key, _ in COUNT_HEADERS]
    headers = [h for _, h in COUNT_HEADERS]
    assert headers[:7] == ["Tổng số hồ sơ tiếp nhận", "Trực tuyến",
                           "Trực tiếp và dịch vụ bưu chính công ích", "Từ kỳ trước chuyển qua",
                           "Số hồ sơ đã giải quyết", "Trước hạn", "Đúng hạn"]
    assert headers[8:10] == ["Số hồ sơ đang giải quyết", "Trong hạn"]
    assert len(set(headers)) == len(headers)


# ------------------------------------------------------------------ the files
II06A_HEADERS = ["Lĩnh vực", "Mã đơn vị", "Tên đơn vị", *(h for _, h in COUNT_HEADERS)]


def read_csv(data: bytes) -> list[list[str]]:
    assert data.startswith(BOM)
    return list(csv.reader(io.StringIO(data[len(BOM):].decode("utf-8"), newline="")))


def read_xlsx(data: bytes) -> Worksheet:
    ws = load_workbook(io.BytesIO(data)).active
    assert isinstance(ws, Worksheet)
    return ws


def sheet_xml(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return z.read("xl/worksheets/sheet1.xml").decode("utf-8")


def test_ii06a_as_csv() -> None:
    rows = read_csv(ii06a_csv(report()))
    assert rows[0] == II06A_HEADERS
    assert rows[1:] == [[f, u, NAMES[u], *map(str, c)] for f, u, c in EXPECTED] + [
        [TOTAL_LABEL, "", "", *map(str, EXPECTED_TOTAL)]]


def test_ii06a_as_xlsx() -> None:
    ws = read_xlsx(ii06a_xlsx(report()))
    assert ws.title == "Biểu II.06a"
    assert FORM in str(ws["A1"].value) and ws["A1"].font.bold
    assert "từ ngày 01/11/2026 đến ngày 30/11/2026" in str(ws["A2"].value)
    assert "00:00 01/12/2026" in str(ws["A2"].value)
    assert [c.value for c in ws[3]] == II06A_HEADERS
    assert all(c.font.bold for c in ws[3])
    assert ws.freeze_panes == "D4"
    values = [[c.value for c in row] for row in ws.iter_rows(min_row=4)]
    assert values == [[f, u, NAMES[u], *c] for f, u, c in EXPECTED] + [
        [TOTAL_LABEL, None, None, *EXPECTED_TOTAL]]
    assert {c.number_format for row in ws.iter_rows(min_row=4, min_col=4) for c in row} == {"#,##0"}
    assert all(isinstance(c.value, int) for row in ws.iter_rows(min_row=4, min_col=4) for c in row)
    assert all(c.font.bold for c in ws[ws.max_row]) and not ws["A4"].font.bold
    assert ws.column_dimensions["C"].width >= len("Chi cục An toàn vệ sinh thực phẩm")


def scores() -> list[UnitScore]:
    everything = {p.id: Counts(1, 1) for p in DEFAULT_POLICY.indicators}
    full = score_index({**everything, "2.2": Counts(7, 2), "5.1": Counts(0, 0)})
    partial = score_index({"2.1": Counts(14, 15), "1.4": Counts(1, 3)})
    return [UnitScore("H26.01", "Sở Tư pháp", "department", full),
            UnitScore("H26.101", "=HYPERLINK(\"x\")", "commune", partial)]


def column(headers: list[Any], start: str, end: str) -> int:
    return next(i for i, h in enumerate(headers) if h.startswith(start) and h.endswith(end))


def test_index766_as_csv() -> None:
    rows = read_csv(index766_csv(scores(), DEFAULT_POLICY, NOVEMBER))
    head = rows[0]
    assert head[:4] == ["Mã đơn vị", "Tên đơn vị", "Khối", "1.1 Công bố TTHC đúng hạn: Tử số"]
    assert len(head) == 3 + 4 * len(DEFAULT_POLICY.indicators) + 6 + 4
    assert head[-4:] == ["Tổng điểm", "Xếp loại", "Đủ dữ liệu", "Chỉ số chưa có số liệu"]
    assert "Điểm nhóm Tiến độ giải quyết (tối đa 20)" in head
    full, partial = rows[1], rows[2]
    assert full[:3] == ["H26.01", "Sở Tư pháp", "department"]
    assert full[column(head, "2.2 ", "Giá trị")] == "3.50"
    assert full[column(head, "2.1 ", "Tỷ lệ (%)")] == "100.00"
    assert full[-4:] == ["100.00", "xuất sắc", "Có", ""]
    assert partial[1] == "'=HYPERLINK(\"x\")"  # text, not a formula
    assert partial[column(head, "2.1 ", "Tử số")] == "14"
    assert partial[column(head, "2.1 ", "Mẫu số")] == "15"
    assert partial[column(head, "2.1 ", "Tỷ lệ (%)")] == "93.33"
    assert partial[column(head, "2.1 ", "Điểm (tối đa 20)")] == "18.67"
    assert partial[column(head, "1.4 ", "Tỷ lệ (%)")] == "33.33"
    assert partial[column(head, "1.1 ", "Tử số")] == ""  # missing
    assert partial[column(head, "Điểm nhóm Tiến độ", ")")] == "18.67"
    assert partial[-4:-1] == ["20.67", "yếu", "Chưa"]  # 5.2 and 5.3 are missing, not empty
    assert partial[-1].startswith("1.1, 1.2, 1.3, 3.1, 3.2")  # not 2.2: information only


def test_index766_as_xlsx() -> None:
    data = index766_xlsx(scores(), DEFAULT_POLICY, NOVEMBER)
    ws = read_xlsx(data)
    head = [c.value for c in ws[3]]
    assert ws.freeze_panes == "C4" and ws["A3"].font.bold and ws["A3"].value == "Mã đơn vị"
    assert "Bộ chỉ số 766" in str(ws["A1"].value)
    row = list(ws[5])
    ratio, points = row[column(head, "2.1 ", "Tỷ lệ (%)")], row[column(head, "2.1 ", "Điểm (tối đa 20)")]
    numerator = row[column(head, "2.1 ", "Tử số")]
    assert (ratio.value, ratio.number_format) == (93.33, "0.00")
    assert (points.value, points.number_format) == (18.67, "0.00")
    assert (numerator.value, numerator.number_format) == (14, "#,##0")
    assert row[column(head, "1.1 ", "Tử số")].value is None
    assert row[1].value == "=HYPERLINK(\"x\")" and row[1].data_type == "s"
    assert [c.value for c in row[-4:-1]] == [20.67, "yếu", "Chưa"]
    xml = sheet_xml(data)  # the Decimals' digits, as numbers
    assert "<v>93.33</v>" in xml and "<v>18.67</v>" in xml and "<v>20.67</v>" in xml
    assert "<f>" not in xml


def test_period_labels_for_file_names() -> None:
    now = datetime(2027, 1, 1, tzinfo=VN)
    assert period_label(NOVEMBER) == "2026-11"
    assert period_label(Period.of(date(2026, 11, 1), date(2026, 11, 15), None, now)) == \
        "2026-11-01_2026-11-15"
    assert period_label(Period.of(date(2026, 11, 1), date(2026, 12, 31), None, now)) == \
        "2026-11-01_2026-12-31"
    assert period_label(Period.of(date(2026, 2, 1), date(2026, 2, 28), None, now)) == "2026-02"


# ------------------------------------------------------------------ the routes
class FakePool:
    """Answers the population query (index766_store.population) with the scenario's facts."""

    async def fetch(self, query: str, *args: Any) -> list[dict[str, Any]]:
        assert "FROM facts" in query
        units = args[3]
        return [dict(vars(f)) for f in scenario_facts() if units is None or f.unit_code in units]


class FakeIndex(Index766):
    """The scores of every unit without a database: H26.01 has counts for 2.1, the others none."""

    async def all_units(self, p: Period) -> dict[str, IndexScore]:
        return {u.code: score_index({"2.1": Counts(14, 15)} if u.code == "H26.01" else {},
                                    self.policy) for u in self.rulebook.units}


def app() -> FastAPI:
    a = FastAPI()
    a.include_router(router)
    install_problem_handlers(a, type_base="/problems/")
    index = FakeIndex(cast(Any, FakePool()), RB)
    a.dependency_overrides[provided(Index766)] = lambda: index
    a.dependency_overrides[may_read] = lambda: None
    a.dependency_overrides[query_period] = lambda: NOVEMBER
    return a


async def get(url: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app()),
                                 base_url="http://metrics") as client:
        return await client.get(url)


async def test_the_ii06a_route_in_each_format() -> None:
    found = (await get("/v1/metrics/reports/ii06a?unit=H26.06&include_subunits=true")).json()
    assert [(r["field"], r["unit_code"], r["received"]) for r in found["rows"]] == [
        (f, u, c[0]) for f, u, c in EXPECTED]
    assert found["total"]["received"] == 14 and found["unit_code"] == "H26.06"
    assert found["headers"]["carried_over"] == "Từ kỳ trước chuyển qua"
    only = (await get("/v1/metrics/reports/ii06a?unit=H26.06.01")).json()
    assert only["total"]["received"] == 1
    answer = await get("/v1/metrics/reports/ii06a?unit=H26.06&format=csv")
    assert answer.headers["content-type"] == CSV_MEDIA_TYPE
    assert answer.headers["content-disposition"] == 'attachment; filename="ii06a_H26.06_2026-11.csv"'
    assert read_csv(answer.content)[-1][:4] == [TOTAL_LABEL, "", "", "13"]
    answer = await get("/v1/metrics/reports/ii06a?format=xlsx")
    assert answer.headers["content-type"] == XLSX_MEDIA_TYPE
    assert answer.headers["content-disposition"] == 'attachment; filename="ii06a_2026-11.xlsx"'
    assert read_xlsx(answer.content)["D8"].value == 14


async def test_the_index766_export_route_in_each_format() -> None:
    found = (await get("/v1/metrics/index766/export?block=department")).json()
    assert found["block"] == "department" and found["period"]["start"].startswith("2026-11-01")
    assert [u["unit_code"] for u in found["units"]][:2] == ["H26.01", "H26.02"]
    assert {u["block"] for u in found["units"]} == {"department"}
    first = found["units"][0]
    assert (first["name"], first["total"], first["complete"]) == ("Sở Tư pháp", 18.67, False)
    assert next(i for i in first["indicators"] if i["id"] == "2.1")["ratio"] == 93.33
    answer = await get("/v1/metrics/index766/export?format=xlsx")
    assert answer.headers["content-type"] == XLSX_MEDIA_TYPE
    assert answer.headers["content-disposition"] == 'attachment; filename="index766_2026-11.xlsx"'
    ws = read_xlsx(answer.content)
    assert ws.max_row == 3 + len(RB.in_force(date(2026, 11, 30)))  # H26.901 merged in 2025
    assert [c.value for c in ws[3]].index("2.1 Giải quyết trước hạn, đúng hạn: Tỷ lệ (%)") == 21
    assert (ws["A6"].value, ws["V6"].value) == ("H26.01", 93.33)  # after H26 and H26.00
    answer = await get("/v1/metrics/index766/export?format=csv&block=commune")
    assert answer.headers["content-disposition"] == 'attachment; filename="index766_2026-11.csv"'
    assert {r[2] for r in read_csv(answer.content)[1:]} == {"commune"}


@pytest.mark.parametrize(("url", "status"), [
    ("/v1/metrics/reports/ii06a?unit=H99", 404),
    ("/v1/metrics/reports/ii06a?format=pdf", 422),
    ("/v1/metrics/index766/export?block=nowhere", 422),
])
async def test_the_routes_refuse(url: str, status: int) -> None:
    answer = await get(url)
    assert answer.status_code == status
    assert answer.headers["content-type"] == "application/problem+json"
