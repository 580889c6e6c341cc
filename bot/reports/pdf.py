"""The annual report as a PDF (fpdf2, pure Python, core fonts)."""

from __future__ import annotations

import io
from collections.abc import Sequence

from fpdf import FPDF

from bot.reports.annual import AnnualReport, categories_png

_SUBST = {"–": "-", "—": "-", "’": "'", "‘": "'", "“": '"', "”": '"', "…": "..."}


def _latin1(text: str) -> str:
    for k, v in _SUBST.items():
        text = text.replace(k, v)
    return text.encode("latin-1", "replace").decode("latin-1")


class _Doc(FPDF):
    def heading(self, text: str) -> None:
        self.ln(3)
        self.set_font("Helvetica", "B", 12)
        self.multi_cell(0, 7, _latin1(text), new_x="LMARGIN", new_y="NEXT")
        self.set_font("Helvetica", "", 10)

    def line_(self, text: str) -> None:
        self.multi_cell(0, 5.5, _latin1(text), new_x="LMARGIN", new_y="NEXT")

    def grid(self, rows: Sequence[Sequence[str]], widths: Sequence[float]) -> None:
        """A table whose cells wrap (fpdf2's table), the first row as its heading."""
        self.set_font("Helvetica", "", 9)
        with self.table(
            col_widths=tuple(widths),
            width=sum(widths),
            align="LEFT",
            text_align="LEFT",
            line_height=5,
        ) as table:
            for row in rows:
                cells = table.row()
                for text in row:
                    cells.cell(_latin1(text))
        self.set_font("Helvetica", "", 10)


def _widths(n: int) -> tuple[float, ...]:
    """Column widths for a table of ``n`` columns on A4 (180 mm of text width)."""
    if n == 2:
        return (130.0, 40.0)
    first = 50.0 if n <= 4 else 28.0
    rest = (180.0 - first) / (n - 1)
    return (first, *([rest] * (n - 1)))


def render_pdf(r: AnnualReport) -> bytes:
    """The report's sections (:meth:`AnnualReport.sections`), every table filled."""
    pdf = _Doc(format="A4")
    pdf.set_margins(15, 15, 15)
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.line_("Annual complaints report")
    pdf.set_font("Helvetica", "", 10)
    pdf.line_(f"Period: {r.period}. Services: {', '.join(r.services)}.")
    for sec in r.sections():
        pdf.heading(sec.title)
        for para in sec.paragraphs:
            pdf.line_(para)
        if sec.id == "themes" and r.categories:
            pdf.image(io.BytesIO(categories_png(r)), w=170)
        for t in sec.tables:
            pdf.set_font("Helvetica", "I", 9)
            pdf.line_(t.caption)
            pdf.grid([t.header, *t.rows], _widths(len(t.header)))
    return bytes(pdf.output())
