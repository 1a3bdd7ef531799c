"""The brief of a scored claim as JSON values, a printable HTML page and a PDF (``models.brief`` holds the
content; this module gathers what the served model knows of the payer, and renders)."""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from typing import Any

import pandas as pd
from fpdf import FPDF
from fpdf.fonts import FontFace

from features.idr_payers import ALL_PAYERS, idr_benchmark_for_payer, load_idr_benchmarks
from features.reference import code_family_one
from features.requests import EXAMPLE_CLAIM, ClaimRequest, typed_claim
from models.brief import build_brief
from service.model_holder import LoadedModel, PayerIndex
from service.web.formatting import dollars, figure_value, level_words
from service.web.templating import templates


@lru_cache(maxsize=4096)
def _idr_row(payer_id: str) -> dict[str, Any] | None:
    """The payer's IDR group row (matching runs the name patterns, so each id is matched once)."""
    return idr_benchmark_for_payer(payer_id, load_idr_benchmarks())


@lru_cache(maxsize=1)
def _market_idr() -> dict[str, Any] | None:
    """The whole market's IDR row: the benchmark when the payer matches no IDR payer group."""
    benchmarks = load_idr_benchmarks()
    rows = benchmarks[benchmarks["payer_group"] == ALL_PAYERS]
    if rows.empty:
        return None
    return {
        key: None if pd.isna(value) else value.item() if hasattr(value, "item") else value
        for key, value in rows.iloc[0].items()
    }


def brief_for(payers: PayerIndex, claim: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
    """The brief of one scored claim: ``claim`` its typed values, ``answer`` its ``ScoreResponse`` body."""
    payer = str(claim["payer_id"])
    family = code_family_one(claim["cpt_code"])
    return build_brief(
        claim,
        answer,
        payer_summary=payers.summaries.get(payer),
        payer_levels=payers.levels.get(payer, []),
        payer_family=payers.families.get((payer, family)),
        idr_record=_idr_row(payer),
        market_idr=_market_idr(),
    )


def model_brief(model: LoadedModel, claim: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
    return brief_for(model.payers, claim, answer)


def example_brief() -> dict[str, Any]:
    """The brief of the contract's example claim with the API's example answer (the OpenAPI example)."""
    from service import examples

    claim = typed_claim(ClaimRequest.model_validate(EXAMPLE_CLAIM), today=date(2026, 12, 1))
    assert claim is not None  # the contract's example is valid
    return brief_for(PayerIndex(), claim, examples.SCORE_RESPONSE)


def render_html(brief: dict[str, Any]) -> str:
    return templates.get_template("brief.html").render(brief=brief, standalone=True)


# --- PDF ------------------------------------------------------------------------------------------------


def _latin(text: Any) -> str:
    """The core PDF fonts are Latin-1: anything else is replaced, never an error."""
    return str(text).encode("latin-1", "replace").decode("latin-1")


class _BriefPdf(FPDF):
    def __init__(self, claim_id: str) -> None:
        super().__init__(format="Letter")
        self.claim_id = claim_id
        self.set_auto_page_break(auto=True, margin=15)
        self.set_title(_latin(f"Negotiation brief {claim_id}"))
        self.set_creator("recoup")

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("Helvetica", size=8)
        self.cell(0, 6, _latin(f"recoup negotiation brief - claim {self.claim_id} - page {self.page_no()}"), align="C")

    def heading(self, text: str) -> None:
        self.ln(3)
        self.set_font("Helvetica", "B", 12)
        self.cell(0, 7, _latin(text), new_x="LMARGIN", new_y="NEXT")
        self.set_font("Helvetica", size=9)

    def paragraph(self, text: str) -> None:
        self.set_font("Helvetica", size=9)
        self.multi_cell(0, 5, _latin(text), new_x="LMARGIN", new_y="NEXT")

    def rows(self, header: tuple[str, ...], rows: list[tuple[Any, ...]], widths: tuple[int, ...]) -> None:
        self.set_font("Helvetica", size=8)
        with self.table(
            col_widths=widths,
            headings_style=FontFace(emphasis="BOLD", fill_color=(230, 230, 230)),
            line_height=4.5,
            text_align="LEFT",
        ) as table:
            for row in [header, *rows]:
                cells = table.row()
                for value in row:
                    cells.cell(_latin("" if value is None else value))


def render_pdf(brief: dict[str, Any]) -> bytes:
    """The brief as a PDF (Letter): the same sections and numbers as the page."""
    pdf = _BriefPdf(brief["claim_id"])
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 9, _latin(f"Negotiation brief - claim {brief['claim_id']}"), new_x="LMARGIN", new_y="NEXT")
    recommendation = brief["recommendation"]
    path = " > ".join(level_words(step) for step in recommendation["path"]) or "none"
    pdf.paragraph(
        f"Recommended: {recommendation['title']} (path: {path}); "
        f"expected net recovery {dollars(recommendation['expected_net_recovery']['value'])}. "
        f"As of {brief['as_of_date']}; model {brief['model']['name']} v{brief['model'].get('version')}."
    )

    def figures(title: str, items: list[dict[str, Any]]) -> None:
        pdf.heading(title)
        pdf.rows(
            ("Figure", "Value", "Source", "Count"),
            [
                (f["label"], figure_value(f), f["source"], "" if f["count"] is None else f"{f['count']:,}")
                for f in items
            ],
            (50, 22, 100, 18),
        )

    pdf.heading("Facts")
    pdf.rows(("Fact", "Value"), [(fact["label"], fact["value"]) for fact in brief["facts"]], (60, 130))
    figures("Benchmarks", brief["benchmarks"])
    figures(f"Payer record at {level_words(recommendation['argued_level'])}", brief["payer_record"])
    ask = brief["opening_ask"]
    figures(
        "Opening ask and expected counter",
        [
            ask["single_case_agreement"]["low"],
            ask["single_case_agreement"]["high"],
            ask["idr_offer"]["ratio"],
            ask["idr_offer"]["amount"],
            ask["expected_counter"]["low"],
            ask["expected_counter"]["high"],
        ],
    )
    pdf.heading("Deadlines")
    pdf.rows(
        ("Level", "Open now", "Deadline", "Days left", "Rule"),
        [
            (
                item["title"],
                "yes" if item["eligible"] else "no",
                item["deadline"] or "n/a",
                "" if item["days_left"] is None else f"{item['days_left']:.0f}",
                item["rule"] or "",
            )
            for item in brief["deadlines"]
        ],
        (40, 16, 24, 16, 94),
    )
    pdf.heading("Documentation checklist")
    pdf.rows(
        ("Document", "On file", "Why"),
        [
            (item["item"], {True: "yes", False: "no", None: "check"}[item["on_file"]], item["why"])
            for item in brief["checklist"]
        ],
        (70, 16, 104),
    )
    pdf.heading("Regulations")
    pdf.rows(
        ("Applies to", "Citation", "What it says"),
        [(item["applies_to"], item["citation"], item["text"]) for item in brief["citations"]],
        (30, 55, 105),
    )
    pdf.heading("Reasons")
    for reason in brief["reasons"] or ["none shown"]:
        pdf.paragraph(f"- {reason}")
    if brief["warnings"]:
        pdf.heading("Warnings")
        for warning in brief["warnings"]:
            pdf.paragraph(f"- {warning}")
    pdf.heading("Note")
    pdf.paragraph(brief["note"])
    return bytes(pdf.output())
