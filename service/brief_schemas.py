"""Response model of ``POST /v1/brief``: the negotiation brief of one claim (``models.brief``).

Its example is the brief of the contract's example claim with the example answer, built when the OpenAPI
document is (not at import), so that it always has the shape the route returns.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from service.schemas import ActionName, LadderStep, LevelName, ModelRef


def _brief_example(schema: dict[str, Any]) -> None:
    from service.web.brief import example_brief

    schema["examples"] = [example_brief()]


class Figure(BaseModel):
    """One number of the brief, with its unit, source and how many cases it rests on."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "label": "Billed as a multiple of Medicare",
                    "value": 11.2,
                    "unit": "x",
                    "source": "CMS 2025 physician fee schedule",
                    "count": None,
                }
            ]
        }
    )

    label: str = Field(description="What the number is.")
    value: float | str | None = Field(
        description="The number (dollars, a multiple, a fraction for %, days, a count) or an ISO date; null when "
        "unknown."
    )
    unit: Literal["dollars", "x", "%", "days", "count", "date"] = Field(
        description="dollars (US), x (a multiple), % (a fraction 0-1), days, count or date."
    )
    source: str = Field(description="Where the number comes from.")
    count: int | None = Field(
        None, description="How many cases (claims, attempts, disputes) it rests on; null for a published figure."
    )


class Fact(BaseModel):
    """One fact of the claim as submitted."""

    label: str = Field(description="The fact's name.")
    value: str = Field(description="Its value as text.")


class RecommendationBrief(BaseModel):
    """What the brief argues for."""

    action: ActionName = Field(description="The recommended action (a level, or accept).")
    title: str = Field(description="The action in words.")
    argued_level: LevelName = Field(
        description="The level the brief argues: the recommended one, or for accept the best-valued eligible one."
    )
    expected_net_recovery: Figure = Field(description="Expected net dollars of the recommended path.")
    path: list[LevelName] = Field(description="The recommended step, then the best step after each failure.")
    step: LadderStep | None = Field(None, description="The ladder's numbers at the argued level.")


class Range(BaseModel):
    """A low and a high figure."""

    low: Figure = Field(description="The low end.")
    high: Figure = Field(description="The high end.")


class IdrOffer(BaseModel):
    """The Federal IDR offer: a multiple of the QPA from what prevailed in similar disputes."""

    ratio: Figure = Field(description="Offer as a multiple of the QPA (median prevailing offer of the payer group).")
    amount: Figure = Field(description="The offer in dollars: the claim's QPA times that ratio.")
    applies: bool = Field(description="Whether Federal IDR is open to the claim (No Surprises Act).")


class OpeningAsk(BaseModel):
    """The opening ask and the counter to expect."""

    single_case_agreement: Range = Field(description="Single-case agreement ask: 80-90% of billed charges.")
    idr_offer: IdrOffer = Field(description="Federal IDR offer as a multiple of the QPA.")
    expected_counter: Range = Field(description="The payer's expected counter: 110-150% of Medicare.")


class DeadlineItem(BaseModel):
    """One level's deadline."""

    level: LevelName = Field(description="The escalation level.")
    title: str = Field(description="The level in words.")
    eligible: bool = Field(description="Whether the level may be attempted now.")
    deadline: str | None = Field(None, description="Last day to file it as the next step (ISO date); null if none.")
    days_left: float | None = Field(None, description="Days from as_of_date to the deadline.")
    rule: str | None = Field(None, description="The rule that sets it, or why the level is not open.")


class ChecklistItem(BaseModel):
    """One document to have on file for the claim's denial category."""

    item: str = Field(description="The document.")
    why: str = Field(description="What it answers.")
    denial_category: str = Field(description="The claim's denial category (from its adjustment codes).")
    on_file: bool | None = Field(None, description="Whether the claim says it is on file; null when unknown.")


class Citation(BaseModel):
    """A statute or regulation that applies to the claim's path."""

    applies_to: str = Field(description="The level(s) or the claim it applies to.")
    citation: str = Field(description="The section or CFR citation.")
    text: str = Field(description="What it says, in short.")


class BriefResponse(BaseModel):
    """The negotiation brief of one claim: every number with its source and its count."""

    model_config = ConfigDict(json_schema_extra=_brief_example)

    claim_id: str = Field(description="The claim_id of the request, echoed.")
    model: ModelRef = Field(description="The model version that scored the claim.")
    as_of_date: str = Field(description="The date the brief is as of (ISO).")
    recommendation: RecommendationBrief = Field(description="The recommended action and the level the brief argues.")
    facts: list[Fact] = Field(description="The claim's facts.")
    benchmarks: list[Figure] = Field(
        description="Billed, allowed and QPA as multiples of the state Medicare amount, and the allowed amount "
        "against the payer's typical allowed amount for the code family."
    )
    payer_record: list[Figure] = Field(
        description="The payer's record at the argued level (history) and in Federal IDR (CMS data)."
    )
    opening_ask: OpeningAsk = Field(description="The recommended opening ask and the expected counter.")
    deadlines: list[DeadlineItem] = Field(description="Each next level's deadline, as a date.")
    checklist: list[ChecklistItem] = Field(description="Documentation to have on file, by denial category.")
    citations: list[Citation] = Field(description="No Surprises Act sections and CFR citations for the path.")
    reasons: list[str] = Field(description="The main drivers of the recommendation, in plain words.")
    warnings: list[str] = Field(description="Caveats: unknown payer or code, thin data, ignored fields.")
    note: str = Field(description="These figures are associations, not causes.")
