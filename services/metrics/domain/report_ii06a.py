"""The periodic report *Biểu II.06a/VPCP/KSTT* (tình hình, kết quả giải quyết thủ tục hành
chính) per field (lĩnh vực, the procedure's ``field`` in the rulebook) and unit, as a pure
function of per-dossier facts, a period and the procedures' fields.

What each column counts, for the dossiers of the period's population (``in_population``:
received in the period, or earlier and still open when it began), by the unit that
received them (``Facts.unit_code``):

* ``received`` (Tổng số hồ sơ tiếp nhận) = ``online`` + ``counter_postal`` + ``carried_over``,
  as the form's "Tổng số" is the dossiers received in the period plus those carried over.
  ``online`` are the period's filings with channel ``online``; ``counter_postal`` the
  period's other filings (counter and postal together, and any other channel, so that the
  columns add up); ``carried_over`` (từ kỳ trước chuyển qua) the dossiers received before
  the period and still open at its start.
* ``resolved`` (đã giải quyết): the dossiers whose end falls in the period with end kind
  ``resolved``, split by their closed timeliness into ``early``, ``on_time`` and ``late``.
  Only resolution counts as "đã giải quyết", as on the national form: a dossier rejected,
  stopped, withdrawn (or returned without a resolution) in the period is **not** resolved;
  it is counted in ``ended_otherwise``, a column the national form does not have, kept so
  that the report reconciles.
* ``in_progress`` (đang giải quyết): the dossiers not ended in the period, i.e. open at its
  horizon (``Period.horizon``: its end, or ``as_of`` if earlier; with the default ``as_of``
  that is what the figures judge at), split by :func:`figures.judge` at that horizon into
  ``within_time`` (open_not_due: trong hạn) and ``overdue`` (overdue_open: quá hạn). A
  dossier ended after the horizon is judged as the open dossier it was then. Judging at the
  horizon rather than at a later explicit ``as_of`` keeps every dossier in exactly one
  column: one ended between the period's end and a later ``as_of`` was still in progress
  when the period closed.

So, on every row and the total: ``received = online + counter_postal + carried_over =
resolved + in_progress + ended_otherwise``, ``resolved = early + on_time + late`` and
``in_progress = within_time + overdue``.

Rows are one per (field, unit) that has a dossier, sorted by field in Vietnamese alphabetical
order (a ă â b c d đ e ê ..., tones after letters; a procedure without a field last, as
:data:`UNKNOWN_FIELD`), then by unit code (numeric parts as numbers); the total row sums them.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace

from services.metrics.domain.facts import Facts
from services.metrics.domain.figures import Period, in_population, judge
from shared.rulebook import Rulebook

FORM = "Biểu II.06a/VPCP/KSTT"
TITLE = "Tình hình, kết quả giải quyết thủ tục hành chính"
UNKNOWN_FIELD = "Chưa xác định lĩnh vực"
TOTAL_LABEL = "Tổng cộng"
CLOSED = ("early", "on_time", "late")

# The label columns and the count columns, each with its Vietnamese header, said once. The
# two "Quá hạn" columns are told apart by what they split, so that a flat header row (CSV)
# stays unambiguous.
LABEL_HEADERS: tuple[tuple[str, str], ...] = (
    ("field", "Lĩnh vực"),
    ("unit_code", "Mã đơn vị"),
    ("unit_name", "Tên đơn vị"),
)
COUNT_HEADERS: tuple[tuple[str, str], ...] = (
    ("received", "Tổng số hồ sơ tiếp nhận"),
    ("online", "Trực tuyến"),
    ("counter_postal", "Trực tiếp và dịch vụ bưu chính công ích"),
    ("carried_over", "Từ kỳ trước chuyển qua"),
    ("resolved", "Số hồ sơ đã giải quyết"),
    ("early", "Trước hạn"),
    ("on_time", "Đúng hạn"),
    ("late", "Quá hạn (đã giải quyết)"),
    ("in_progress", "Số hồ sơ đang giải quyết"),
    ("within_time", "Trong hạn"),
    ("overdue", "Quá hạn (đang giải quyết)"),
    ("ended_otherwise", "Kết thúc khác (từ chối, dừng, rút hồ sơ)"),
)


@dataclass(frozen=True)
class II06aCounts:
    received: int = 0
    online: int = 0
    counter_postal: int = 0
    carried_over: int = 0
    resolved: int = 0
    early: int = 0
    on_time: int = 0
    late: int = 0
    in_progress: int = 0
    within_time: int = 0
    overdue: int = 0
    ended_otherwise: int = 0

    def __add__(self, other: II06aCounts) -> II06aCounts:
        return II06aCounts(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def value(self, key: str) -> int:
        """The count of a column of :data:`COUNT_HEADERS` by its key."""
        found: int = getattr(self, key)
        return found


@dataclass(frozen=True)
class II06aRow:
    field: str  # TOTAL_LABEL on the total row
    unit_code: str  # "" on the total row
    unit_name: str
    counts: II06aCounts


@dataclass(frozen=True)
class II06aReport:
    period: Period
    rows: tuple[II06aRow, ...]
    total: II06aRow


def columns_of(f: Facts, p: Period) -> tuple[str, ...]:
    """The count columns a dossier counts in; none when it is outside the period's population.

    :raises ValueError: for a dossier resolved without a closed timeliness (facts folded
        without ``dossier.received``, which ``in_population`` already leaves out)."""
    if not in_population(f, p):
        return ()
    if p.contains(f.received_at):
        out = ["received", "online" if f.channel == "online" else "counter_postal"]
    else:
        out = ["received", "carried_over"]
    if p.contains(f.end_at) and f.end_kind == "resolved":
        if f.closed_timeliness not in CLOSED:
            raise ValueError(f"dossier {f.dossier_code}: resolved without a timeliness")
        out += ["resolved", f.closed_timeliness]
    elif p.contains(f.end_at):
        out.append("ended_otherwise")
    else:
        open_verdict = judge(replace(f, end_at=None), p.horizon)  # as it was at the horizon
        out += ["in_progress", "within_time" if open_verdict == "open_not_due" else "overdue"]
    return tuple(out)


def ii06a(facts: Iterable[Facts], p: Period, fields_by_procedure: Mapping[str, str],
          unit_names: Mapping[str, str] | None = None) -> II06aReport:
    """The report for ``p`` from the facts of its population (others are left out), the field of
    each procedure by code, and, for display, the units' names by code."""
    names = unit_names or {}
    tallies: dict[tuple[str, str], dict[str, int]] = {}
    for f in facts:
        counted = columns_of(f, p)
        if not counted:
            continue
        field = fields_by_procedure.get(f.procedure_code or "") or UNKNOWN_FIELD
        tally = tallies.setdefault((field, f.unit_code or ""), {})
        for key in counted:
            tally[key] = tally.get(key, 0) + 1
    rows = tuple(II06aRow(field, unit, names.get(unit, ""), II06aCounts(**tally))
                 for (field, unit), tally in sorted(tallies.items(), key=lambda kv: _row_key(*kv[0])))
    total = sum((r.counts for r in rows), II06aCounts())
    return II06aReport(p, rows, II06aRow(TOTAL_LABEL, "", "", total))


def fields_of(rulebook: Rulebook) -> dict[str, str]:
    """Each procedure's field (lĩnh vực) by procedure code, as the rulebook names it."""
    return {proc.code: proc.field for proc in rulebook.procedures}


# ------------------------------------------------------------------ order
_LETTER_MARKS = {"\u0306": 1, "\u0302": 2, "\u031b": 3}  # ă; â ê ô; ơ ư
_TONES = {"\u0300": 1, "\u0309": 2, "\u0303": 3, "\u0301": 4, "\u0323": 5}  # huyền hỏi ngã sắc nặng

VietnameseKey = tuple[tuple[tuple[str, int], ...], tuple[int, ...], str]


def vietnamese_key(text: str) -> VietnameseKey:
    """A sort key in Vietnamese alphabetical order: a < ă < â < b ... d < đ ... o < ô < ơ ...
    u < ư; letters first, then tones (none, huyền, hỏi, ngã, sắc, nặng), then the text."""
    letters: list[tuple[str, int]] = []
    tones: list[int] = []
    for ch in text.casefold():
        if ch == "đ":
            letters.append(("d", 1))
            tones.append(0)
            continue
        decomposed = unicodedata.normalize("NFD", ch)
        base, marks = decomposed[0], decomposed[1:]
        letters.append((base, sum(_LETTER_MARKS.get(m, 0) for m in marks)))
        tones.append(sum(_TONES.get(m, 0) for m in marks))
    return tuple(letters), tuple(tones), text


def unit_code_key(code: str) -> tuple[tuple[int, int, str], ...]:
    """Unit codes in their natural order: H26.06 < H26.06.01 < H26.11 < H26.101."""
    return tuple((0, int(part), "") if part.isascii() and part.isdigit() else (1, 0, part)
                 for part in code.split("."))


def _row_key(field: str, unit: str) -> tuple[bool, VietnameseKey, tuple[tuple[int, int, str], ...]]:
    return field == UNKNOWN_FIELD, vietnamese_key(field), unit_code_key(unit)
