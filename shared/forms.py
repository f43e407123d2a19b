"""Printed forms (the one-stop desk's papers: receipt, supplement request, refusal, apology,
control slip, stop notice, register) as PDF, in Vietnamese, each with its dossier's QR code
for the status look-up. A service builds a :class:`Form` from its own data (a pure step);
:func:`render` lays it out with ReportLab in DejaVu Sans, which covers Vietnamese."""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path

import segno
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from shared.clock import VN

FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"),
             Path(__file__).parent / "fonts")
NATION = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
MOTTO = "Độc lập - Tự do - Hạnh phúc"


class NoFont(RuntimeError):
    """No font with Vietnamese coverage: install Debian's fonts-dejavu-core."""


@dataclass(frozen=True)
class Form:
    number: str  # "01" … "07"
    title: str
    issuer: str  # the unit that issues it
    lines: Sequence[tuple[str, str]]  # label, value
    lookup_url: str | None = None  # the QR code's target; None: no QR (the register)
    table: Sequence[Sequence[str]] = field(default_factory=tuple)  # first row: headers
    paragraphs: Sequence[str] = field(default_factory=tuple)
    place_date: str = ""  # "Hải Phòng, ngày 16 tháng 11 năm 2026"
    signer: str = ""  # who signs: "NGƯỜI TIẾP NHẬN"
    wide: bool = False  # landscape (the register)


def vn_date(t: datetime | None) -> str:
    """dd/mm/yyyy in Vietnam time; empty for none."""
    return t.astimezone(VN).strftime("%d/%m/%Y") if t else ""


def vn_datetime(t: datetime | None) -> str:
    return t.astimezone(VN).strftime("%H giờ %M, ngày %d/%m/%Y") if t else ""


def place_date(place: str, t: datetime) -> str:
    local = t.astimezone(VN)
    return f"{place}, ngày {local.day:02d} tháng {local.month:02d} năm {local.year}"


@cache
def _fonts() -> tuple[str, str]:
    for folder in FONT_DIRS:
        regular, bold = folder / "DejaVuSans.ttf", folder / "DejaVuSans-Bold.ttf"
        if regular.exists() and bold.exists():
            pdfmetrics.registerFont(TTFont("DejaVuSans", str(regular)))
            pdfmetrics.registerFont(TTFont("DejaVuSans-Bold", str(bold)))
            return "DejaVuSans", "DejaVuSans-Bold"
    raise NoFont("DejaVu Sans not found in " + ", ".join(map(str, FONT_DIRS)))


def qr_png(url: str) -> bytes:
    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="png", scale=6, border=2)
    return out.getvalue()


# reportlab's registered fonts are shared by every canvas, and using one from two threads at
# once breaks a render (the subsetting at save reads the font file through one shared
# position: an IndexError, seen as a 500 when two desks printed at the same moment). Routes
# render in worker threads, so one render at a time per process. A render holds the GIL
# throughout anyway: this costs no throughput.
_RENDERING = threading.Lock()


def render(form: Form) -> bytes:
    """The form as a PDF. Safe to call from several threads at once."""
    with _RENDERING:
        return _render(form)


def _render(form: Form) -> bytes:
    regular, bold = _fonts()
    out = io.BytesIO()
    size = landscape(A4) if form.wide else A4
    width, height = size
    c = Canvas(out, pagesize=size, pageCompression=1)
    c.setTitle(f"Mẫu số {form.number} - {form.title}")
    c.setAuthor(form.issuer)
    y = height - 18 * mm
    left, right = 18 * mm, width - 18 * mm

    def text(value: str, x: float, font: str = regular, size_pt: float = 11,
             centre: bool = False) -> None:
        c.setFont(font, size_pt)
        (c.drawCentredString if centre else c.drawString)(x, y, value)

    text(f"Mẫu số {form.number}", right - 20 * mm, regular, 9)
    y -= 6 * mm
    text(form.issuer.upper(), left + 35 * mm, bold, 10, centre=True)
    text(NATION, right - 55 * mm, bold, 10, centre=True)
    y -= 5 * mm
    text(MOTTO, right - 55 * mm, bold, 10, centre=True)
    y -= 14 * mm
    text(form.title, width / 2, bold, 14, centre=True)
    y -= 11 * mm
    labels = [f"{label}:" for label, _ in form.lines]
    column = min(75 * mm, max((pdfmetrics.stringWidth(x, bold, 10.5) for x in labels),
                              default=0) + 4 * mm)
    for label, (_, value) in zip(labels, form.lines, strict=True):
        c.setFont(bold, 10.5)
        c.drawString(left, y, label)
        c.setFont(regular, 10.5)
        for i, part in enumerate(_wrap(value, regular, 10.5, right - left - column)):
            if i:
                y -= 5 * mm
            c.drawString(left + column, y, part)
        y -= 7 * mm
        if y < 40 * mm:
            c.showPage()
            y = height - 20 * mm
    for paragraph in form.paragraphs:
        for part in _wrap(paragraph, regular, 10.5, right - left):
            c.setFont(regular, 10.5)
            c.drawString(left, y, part)
            y -= 5.5 * mm
        y -= 2 * mm
    if form.table:
        y = _table(c, form.table, left, right, y, height, regular, bold)
    y -= 8 * mm
    if y < 60 * mm:
        c.showPage()
        y = height - 20 * mm
    top = y
    if form.place_date:
        text(form.place_date, right - 45 * mm, regular, 10, centre=True)
        y -= 6 * mm
    if form.signer:
        text(form.signer, right - 45 * mm, bold, 10.5, centre=True)
        y -= 5 * mm
        text("(Ký, ghi rõ họ tên)", right - 45 * mm, regular, 9, centre=True)
    if form.lookup_url:  # beside the signature: scan to follow the dossier
        c.drawImage(ImageReader(io.BytesIO(qr_png(form.lookup_url))), left, top - 32 * mm,
                    30 * mm, 30 * mm)
        c.setFont(regular, 8)
        c.drawString(left, top - 36 * mm, "Quét mã để tra cứu tình trạng hồ sơ")
    c.showPage()
    c.save()
    return out.getvalue()


def _wrap(value: str, font: str, size_pt: float, width: float) -> list[str]:
    words, lines, line = value.split(), [], ""
    for word in words:
        candidate = f"{line} {word}".strip()
        if pdfmetrics.stringWidth(candidate, font, size_pt) <= width or not line:
            line = candidate
        else:
            lines.append(line)
            line = word
    return [*lines, line] if line else lines or [""]


def _table(c: Canvas, rows: Sequence[Sequence[str]], left: float, right: float, y: float,
           height: float, regular: str, bold: str) -> float:
    columns = max(len(r) for r in rows)
    width = (right - left) / columns
    for i, row in enumerate(rows):
        font, size_pt = (bold, 8.5) if i == 0 else (regular, 8.5)
        wrapped = [_wrap(str(cell), font, size_pt, width - 2 * mm) for cell in row]
        tall = max(len(w) for w in wrapped) * 4 * mm + 2 * mm
        if y - tall < 20 * mm:
            c.showPage()
            y = height - 20 * mm
        for j, cell in enumerate(wrapped):
            x = left + j * width
            c.rect(x, y - tall, width, tall)
            c.setFont(font, size_pt)
            for k, part in enumerate(cell):
                c.drawString(x + 1 * mm, y - 4 * mm - k * 4 * mm, part)
        y -= tall
    return y
