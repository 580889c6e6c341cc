"""The annual report as a PDF (fpdf2, pure Python, core fonts)."""

from __future__ import annotations

import io
from collections.abc import Sequence

from fpdf import FPDF

from bot.reports.annual import AnnualReport, categories_png
from bot.reports.data import TIMELINESS, TIMELINESS_LABELS

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
        for i, row in enumerate(rows):
            self.set_font("Helvetica", "B" if i == 0 else "", 9)
            for text, w in zip(row, widths, strict=True):
                self.cell(w, 6, _latin1(text), border=1)
            self.ln(6)
        self.set_font("Helvetica", "", 10)


def render_pdf(r: AnnualReport) -> bytes:
    pdf = _Doc(format="A4")
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.line_("Annual complaints report")
    pdf.set_font("Helvetica", "", 10)
    pdf.line_(f"Period: {r.period}. Services: {', '.join(r.services)}.")
    pdf.heading("1. Complaints received")
    rows = [
        ("Measure", "Number"),
        ("Complaints received", str(r.received)),
        *((f"of which {k}", str(n)) for k, n in r.received_by_service.items()),
        ("Complaints via an MP", str(r.via_mp)),
        ("Resolved at Stage 1", str(r.resolved_stage1)),
        ("Requested Stage 2", str(r.requested_stage2)),
        ("Withdrawn", str(r.withdrawn)),
        ("Referred to the Ombudsman", str(r.ombudsman)),
        *((f"Highest stage reached: Stage {k}", str(n)) for k, n in r.by_stage.items()),
    ]
    pdf.grid(rows, (110, 40))
    pdf.heading("2. Who complained?")
    pdf.grid(
        [("Complainant", "Number"), *((k, str(n)) for k, n in r.complainants.items())], (110, 40)
    )
    pdf.heading("3. Timescales")
    ts = [("Stage", *(TIMELINESS_LABELS[k] for k in TIMELINESS))]
    for stage in r.timescales:
        ts.append(
            (
                f"Stage {stage}",
                *(f"{r.timescales[stage][k]} ({r.timescale_share(stage, k)})" for k in TIMELINESS),
            )
        )
    pdf.grid(ts, (30, 50, 50, 50))
    pdf.heading("4. What people complained about")
    if r.categories:
        pdf.image(io.BytesIO(categories_png(r)), w=170)
    pdf.grid([("Category", "Number"), *((k, str(n)) for k, n in r.categories.items())], (110, 40))
    pdf.heading("5. How we dealt with complaints (outcomes)")
    out_rows = [("Outcome", "Number"), *((k, str(n)) for k, n in r.outcomes.items())]
    out_rows += [(f"Justification: {k}", str(n)) for k, n in r.justification.items()]
    out_rows += [(f"Closed: {k}", str(n)) for k, n in r.closure.items()]
    pdf.grid(out_rows, (110, 40))
    pdf.heading("6. Compliments received")
    pdf.line_(f"Compliments: {r.compliments}. Comments: {r.comments}.")
    pdf.heading("7. Learning from complaints and service improvements")
    if not r.learning:
        pdf.line_("No learning was recorded for complaints in this period.")
    for lr in r.learning:
        pdf.line_(f"{lr.reference}: You said: {lr.you_said} We did: {lr.we_did}")
    pdf.heading("8. Ombudsman referrals and decisions")
    pdf.line_(f"Referred to the Ombudsman: {r.ombudsman}.")
    for k, n in r.ombudsman_decisions.items():
        pdf.line_(f"{k}: {n}")
    return bytes(pdf.output())
