"""The web app's pages under ``/app``: sign-in, worklists, claims and their briefs, payers, the model.

Routes are thin: they read a job, a table page or a profile and render a template. No claim data goes
into a URL: a worklist's claim is addressed by the job's random id and its input row number, a typed-in
claim is posted, never put in a query string; pages are not logged beyond their path.
"""

from __future__ import annotations

import math
import secrets
from datetime import date, datetime
from typing import Annotated, Any

import anyio
import numpy as np
import pandas as pd
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from fastapi import APIRouter, File, Form, HTTPException, Query, Request, UploadFile, status
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from features.columns import claim_columns
from features.idr_payers import idr_benchmark_for_payer, load_idr_benchmarks
from features.requests import REQUEST_COLUMN_NAMES, ClaimRequest, pydantic_errors, typed_claim
from features.schema import ESCALATION_LEVELS, REQUEST_TABLE, Kind
from features.validation import validate_claims
from models.monitoring import monitor_store
from service.dependencies import LimiterDep, ModelDep, SettingsDep
from service.model_holder import LoadedModel
from service.scoring import score_claims
from service.web import charts
from service.web.auth import (
    CSRF_FIELD,
    LOGIN_COOKIE,
    SESSION_COOKIE,
    CheckedSessionDep,
    Session,
    SessionDep,
    SignerDep,
    set_cookie,
)
from service.web.brief import model_brief, render_pdf
from service.web.formatting import dollars, family_words, multiple, percent
from service.web.jobs import find_job, list_jobs, start_job
from service.web.table import PAGE_SIZES, SORTABLE, ranked_table
from service.web.table import Query as TableQuery
from service.web.templating import templates

router = APIRouter(prefix="/app", include_in_schema=False)
LEVEL_NAMES = [level.name for level in ESCALATION_LEVELS]
ACTIONS = ["accept", *LEVEL_NAMES[1:]]
WRONG_KEY = "That key is not one of this service's API keys."
REJECTS_SHOWN = 50
UPLOAD_PATH = "/app/worklists"
ERROR_TITLES = {401: "Not signed in", 403: "Not allowed", 404: "Not found", 413: "Too large", 415: "Not a worklist"}


async def to_sign_in(request: Request, exc: Exception) -> RedirectResponse:
    return RedirectResponse("/app/login", status.HTTP_303_SEE_OTHER)


async def http_error(request: Request, exc: Exception) -> Response:
    """An error of a page as a page; of the API as FastAPI words it (JSON)."""
    assert isinstance(exc, StarletteHTTPException)
    if not request.url.path.startswith("/app"):
        return await http_exception_handler(request, exc)
    message = exc.detail if isinstance(exc.detail, str) else "; ".join(item.get("msg", "") for item in exc.detail)
    return render(
        request,
        "error.html",
        None,
        exc.status_code,
        title=ERROR_TITLES.get(exc.status_code, "Something went wrong"),
        message=message,
    )


def render(
    request: Request, name: str, session: Session | None, status_code: int = 200, **context: Any
) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        name,
        {"session": session, "csrf_field": CSRF_FIELD, "csrf": session.csrf if session else "", **context},
        status_code=status_code,
    )


@router.get("")
async def home() -> RedirectResponse:
    return RedirectResponse("/app/worklists", status.HTTP_303_SEE_OTHER)


# --- sign-in ------------------------------------------------------------------------------------------


def _signed_in(request: Request, signer: SignerDep, fingerprint: str) -> RedirectResponse:
    cookie, _ = signer.session_cookie(fingerprint)
    response = RedirectResponse("/app/worklists", status.HTTP_303_SEE_OTHER)
    set_cookie(response, request, SESSION_COOKIE, cookie, int(signer.settings.web_session_hours * 3600))
    response.delete_cookie(LOGIN_COOKIE, path="/")
    return response


@router.get("/login")
async def login_form(request: Request, signer: SignerDep) -> Response:
    if not signer.settings.auth_enabled:  # no keys configured: the API is open, and so is the app
        return _signed_in(request, signer, "")
    nonce = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(18)
    response = render(request, "login.html", None, login_token=signer.login_token(nonce))
    set_cookie(response, request, LOGIN_COOKIE, nonce, 3600)
    return response


@router.post("/login")
async def login(
    request: Request,
    signer: SignerDep,
    api_key: Annotated[str, Form(max_length=500)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    if not nonce or not csrf_token or csrf_token != signer.login_token(nonce):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "the sign-in form has expired: reload the page")
    fingerprint = signer.matching_key(api_key.strip()) if signer.settings.auth_enabled else ""
    if fingerprint is None:
        return render(
            request, "login.html", None, status.HTTP_401_UNAUTHORIZED, error=WRONG_KEY, login_token=csrf_token
        )
    return _signed_in(request, signer, fingerprint)


@router.post("/logout")
async def logout(session: CheckedSessionDep) -> RedirectResponse:
    response = RedirectResponse("/app/login", status.HTTP_303_SEE_OTHER)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# --- worklists ----------------------------------------------------------------------------------------


@router.get("/worklists")
async def worklists(request: Request, session: SessionDep, settings: SettingsDep) -> HTMLResponse:
    jobs = await anyio.to_thread.run_sync(list_jobs, settings)
    return render(request, "worklists.html", session, jobs=jobs)


@router.post("/worklists")
async def upload_worklist(
    request: Request,
    session: CheckedSessionDep,
    settings: SettingsDep,
    model: ModelDep,
    limiter: LimiterDep,
    file: Annotated[UploadFile, File()],
) -> RedirectResponse:
    job = await start_job(settings, file, model, limiter, request.app.state.web_tasks)
    return RedirectResponse(f"/app/worklists/{job.id}", status.HTTP_303_SEE_OTHER)


def _optional_float(text: str | None) -> float | None:
    try:
        number = float(text) if text not in (None, "") else None
    except ValueError:
        return None
    return number if number is not None and math.isfinite(number) else None


@router.get("/worklists/{job_id}")
async def worklist(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    job_id: str,
    payer: Annotated[str | None, Query(max_length=100)] = None,
    action: Annotated[str | None, Query(max_length=40)] = None,
    level: Annotated[str | None, Query(max_length=40)] = None,
    min_amount: Annotated[str | None, Query(max_length=40)] = None,
    max_amount: Annotated[str | None, Query(max_length=40)] = None,
    sort: Annotated[str, Query(max_length=40)] = "expected_net_recovery",
    order: Annotated[str, Query(max_length=4)] = "desc",
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    size: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> HTMLResponse:
    job = find_job(settings, job_id)
    context: dict[str, Any] = {"job": job}
    if job.state == "done":
        table = await anyio.to_thread.run_sync(ranked_table, job.ranked)
        query = TableQuery(
            payer=payer or None,
            action=action or None,
            level=level or None,
            min_amount=_optional_float(min_amount),
            max_amount=_optional_float(max_amount),
            sort=sort if sort in SORTABLE else "expected_net_recovery",
            descending=order != "asc",
            page=page,
            size=size,
        )
        context |= {
            "table": table.page(query),
            "payers": table.categories["payer_id"],
            "actions": table.categories["recommended_action"],
            "levels": table.categories["current_level"],
            "sortable": SORTABLE,
            "page_sizes": PAGE_SIZES,
            "raw_filters": {"min_amount": min_amount or "", "max_amount": max_amount or ""},
            "rejects": await anyio.to_thread.run_sync(_rejects, job.rejects),
            "by_payer": sorted(
                job.status.get("by_payer", {}).items(), key=lambda item: -item[1]["expected_net_recovery"]
            ),
        }
    return render(request, "worklist.html", session, **context)


def _rejects(path) -> dict[str, Any]:
    """The first rejected rows (row number, claim id and errors; never the other uploaded values)."""
    if not path.exists():
        return {"rows": [], "total": 0}
    file = pq.ParquetFile(path)
    names = [name for name in ("row", "claim_id", "errors") if name in file.schema_arrow.names]
    rows = file.read(columns=names).slice(0, REJECTS_SHOWN).to_pylist() if file.metadata.num_rows else []
    return {"rows": rows, "total": file.metadata.num_rows}


@router.get("/worklists/{job_id}/download/{part}.{fmt}")
async def download(session: SessionDep, settings: SettingsDep, job_id: str, part: str, fmt: str) -> FileResponse:
    job = find_job(settings, job_id)
    if part not in ("ranked", "rejects") or fmt not in ("csv", "parquet") or job.state != "done":
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such file")
    source = job.ranked if part == "ranked" else job.rejects
    if fmt == "parquet":
        return FileResponse(source, media_type="application/vnd.apache.parquet", filename=f"{part}.parquet")
    target = job.folder / f"{part}.csv"
    if not target.exists():  # converted once, on first download
        await anyio.to_thread.run_sync(_to_csv, source, target)
    return FileResponse(target, media_type="text/csv", filename=f"{part}.csv")


def _to_csv(source, target) -> None:
    scratch = target.with_suffix(".csv.tmp")
    with pq.ParquetFile(source) as file, pacsv.CSVWriter(scratch, file.schema_arrow) as writer:
        for batch in file.iter_batches():
            writer.write_batch(batch)
    scratch.replace(target)


# --- claims -------------------------------------------------------------------------------------------


def _python(value: Any) -> Any:
    if value is None or (not isinstance(value, str | bytes) and pd.api.types.is_scalar(value) and pd.isna(value)):
        return None  # None, NaN, NaT and pd.NA alike
    if isinstance(value, pd.Timestamp | datetime):
        return value.date()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _score_row(model: LoadedModel, raw: pd.DataFrame) -> tuple[dict[str, Any], dict[str, Any]]:
    """One worklist row validated and scored as the worklist scored it: (typed values, answer)."""
    checked = validate_claims(raw)
    if not len(checked.valid):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "that row was rejected: see the rejected rows")
    valid = checked.valid
    result = model.score_columns(claim_columns(valid))
    row = valid.iloc[0]
    values = {name: _python(row[name]) if name in valid.columns else None for name in REQUEST_COLUMN_NAMES}
    values["current_level"] = int(values["current_level"] or 0)
    answer = {"claim_id": str(values["claim_id"]), **result.response(0)}
    answer["model"] = {"name": model.name, "version": model.version}
    return values, answer


async def _worklist_claim(settings, model: LoadedModel, job_id: str, row: int) -> tuple[dict, dict]:
    job = find_job(settings, job_id)
    if job.state != "done":
        raise HTTPException(status.HTTP_404_NOT_FOUND, "the worklist is not scored yet")

    def read() -> pd.DataFrame:
        table = pq.read_table(job.ranked, filters=[("row", "==", row)])
        frame = table.to_pandas()
        if frame.empty:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such row in this worklist")
        inputs = [name for name in frame.columns if name in REQUEST_COLUMN_NAMES]
        raw = frame[inputs].astype(object)
        raw.index = pd.Index([row])
        batch = frame["idr_batch_id"].iloc[0] if "idr_batch_id" in frame.columns else None
        return raw, None if pd.isna(batch) or batch == "" else str(batch)

    raw, batch = await anyio.to_thread.run_sync(read)
    values, answer = await anyio.to_thread.run_sync(_score_row, model, raw)
    answer["worklist_idr_batch"] = batch
    return values, answer


def _claim_context(values: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
    ladder = answer["ladder"]
    return {
        "claim": values,
        "answer": answer,
        "chart": charts.ladder(ladder, float(values["current_allowed_amount"])),
        "steps": [step for step in ladder if step["level"] != "none"],
        "current_level": LEVEL_NAMES[int(values["current_level"])],
    }


@router.get("/worklists/{job_id}/claims/{row}")
async def worklist_claim(
    request: Request, session: SessionDep, settings: SettingsDep, model: ModelDep, job_id: str, row: int
) -> HTMLResponse:
    values, answer = await _worklist_claim(settings, model, job_id, row)
    brief_url = f"/app/worklists/{job_id}/claims/{row}/brief"
    return render(request, "claim.html", session, brief_url=brief_url, job_id=job_id, **_claim_context(values, answer))


def _brief_response(request: Request, session: Session, brief: dict[str, Any], fmt: str) -> Response:
    if fmt == "pdf":
        return Response(
            render_pdf(brief),
            media_type="application/pdf",
            headers={"Content-Disposition": 'attachment; filename="brief.pdf"'},
        )
    return render(request, "brief_page.html", session, brief=brief)


@router.get("/worklists/{job_id}/claims/{row}/brief")
async def worklist_brief(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    model: ModelDep,
    job_id: str,
    row: int,
    fmt: Annotated[str, Query(alias="format", pattern="^(html|pdf)$")] = "html",
) -> Response:
    values, answer = await _worklist_claim(settings, model, job_id, row)
    brief = await anyio.to_thread.run_sync(model_brief, model, values, answer)
    return _brief_response(request, session, brief, fmt)


def _form_fields(values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The claim form's fields, from the contract's request table."""
    values = values or {}
    fields = []
    for column in REQUEST_TABLE:
        fields.append(
            {
                "name": column.name,
                "label": column.name.replace("_", " "),
                "kind": column.kind.value,
                "required": column.required,
                "choices": column.choices,
                "help": column.description,
                "value": values.get(column.name, "" if column.example is None else column.example),
            }
        )
    return fields


@router.get("/claim")
async def claim_form(request: Request, session: SessionDep) -> HTMLResponse:
    return render(request, "claim_form.html", session, fields=_form_fields())


async def _posted_claim(request: Request) -> tuple[dict[str, Any], Any]:
    form = await request.form()
    submitted = {name: str(form.get(name, "")).strip() for name in REQUEST_COLUMN_NAMES}
    for column in REQUEST_TABLE:  # an unticked box is "false"; an empty field is "not given"
        if column.kind is Kind.BOOL and column.name not in form:
            submitted[column.name] = "false"
    given = {name: value for name, value in submitted.items() if value != ""}
    try:
        return submitted, ClaimRequest.model_validate(given)
    except ValidationError as invalid:
        return submitted, pydantic_errors(invalid.errors())


async def _score_posted(request: Request, model: LoadedModel, limiter) -> tuple[dict, Any, dict | None, dict | None]:
    submitted, claim = await _posted_claim(request)
    if isinstance(claim, list):
        return submitted, claim, None, None
    outcome = (await anyio.to_thread.run_sync(score_claims, model, [claim], limiter=limiter))[0]
    if outcome.response is None:
        return submitted, outcome.errors or [{"loc": ["body"], "msg": "the claim could not be scored"}], None, None
    return submitted, None, typed_claim(claim), outcome.response


@router.post("/claim")
async def score_claim_form(
    request: Request, session: CheckedSessionDep, model: ModelDep, limiter: LimiterDep
) -> HTMLResponse:
    submitted, errors, values, answer = await _score_posted(request, model, limiter)
    if errors:
        return render(
            request,
            "claim_form.html",
            session,
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            fields=_form_fields(submitted),
            errors=errors,
        )
    return render(request, "claim.html", session, posted=submitted, **_claim_context(values, answer))


@router.post("/claim/brief")
async def claim_form_brief(
    request: Request,
    session: CheckedSessionDep,
    model: ModelDep,
    limiter: LimiterDep,
    fmt: Annotated[str, Form(alias="format", pattern="^(html|pdf)$")] = "html",
) -> Response:
    submitted, errors, values, answer = await _score_posted(request, model, limiter)
    if errors:
        return render(
            request,
            "claim_form.html",
            session,
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            fields=_form_fields(submitted),
            errors=errors,
        )
    brief = await anyio.to_thread.run_sync(model_brief, model, values, answer)
    return _brief_response(request, session, brief, fmt)


# --- payers and the model ------------------------------------------------------------------------------


@router.get("/payers")
async def payers(request: Request, session: SessionDep, model: ModelDep) -> HTMLResponse:
    rows = [record for _, record in sorted(model.payers.summaries.items())]
    return render(request, "payers.html", session, payers=rows)


def _idr(payer_id: str) -> dict[str, Any] | None:
    return idr_benchmark_for_payer(payer_id, load_idr_benchmarks())


@router.get("/payers/{payer_id}")
async def payer(request: Request, session: SessionDep, model: ModelDep, payer_id: str) -> HTMLResponse:
    key = payer_id.strip().upper()[:100]
    summary = model.payers.summaries.get(key)
    idr = await anyio.to_thread.run_sync(_idr, key)
    if summary is None and idr is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown payer")
    levels = sorted(model.payers.levels.get(key, []), key=lambda row: LEVEL_NAMES.index(row["level"]))
    success = []
    for row in levels:
        low, high = charts.wilson(row["successes"] or 0, row["attempts"] or 0)
        row |= {"low": low, "high": high}
        success.append(
            charts.Bar(row["level"].replace("_", " "), row["success_rate"], low, high, f" (n={row['attempts']:,})")
        )
    families = sorted(
        (record for (payer_key, _), record in model.payers.families.items() if payer_key == key),
        key=lambda record: -(record["claims"] or 0),
    )
    figures = {
        "success": charts.bars(success, "Success rate by level with 95% intervals", percent, lower=0, upper=1)
        if success
        else None,
        "awards": charts.bars(
            [charts.Bar(r["level"].replace("_", " "), r["median_settlement_pct_of_billed"]) for r in levels],
            "Median award after a success, as a share of billed, by level",
            percent,
            lower=0,
            upper=1,
        )
        if levels
        else None,
        "days": charts.bars(
            [charts.Bar(r["level"].replace("_", " "), r["median_days"]) for r in levels],
            "Median days to resolution by level",
            lambda v: f"{v:,.0f} days",
        )
        if levels
        else None,
        "initial": charts.bars(
            [
                charts.Bar(
                    family_words(f["code_family"]),
                    f["median_initial_pct_of_medicare"],
                    note=f" (n={f['claims']:,})",
                )
                for f in families
            ],
            "Median initial allowed as a multiple of Medicare, by kind of service",
            multiple,
        )
        if families
        else None,
    }
    return render(
        request,
        "payer.html",
        session,
        payer_id=key,
        summary=summary,
        levels=levels,
        families=families,
        idr=idr,
        figures=figures,
    )


@router.get("/model")
async def model_page(request: Request, session: SessionDep, model: ModelDep, settings: SettingsDep) -> HTMLResponse:
    metadata = model.bundle.metadata or {}
    metrics = metadata.get("metrics") or {}
    comparison = []
    for name in ("roc_auc", "brier", "log_loss", "ece"):
        comparison.append(
            {
                "metric": name,
                "model": metrics.get(f"test_{name}"),
                "payer_level_rates": metrics.get(f"baseline_payer_level_rates_{name}"),
                "logistic_regression": metrics.get(f"baseline_logistic_regression_{name}"),
            }
        )
    plots = metadata.get("plots") or {}
    coverage = plots.get("coverage") or []
    figures = {
        "calibration": charts.calibration(plots["calibration"]) if plots.get("calibration") else None,
        "coverage": charts.bars(
            [
                charts.Bar(row["level"].replace("_", " "), row["coverage"], note=f" (n={row['count']:,})")
                for row in coverage
            ],
            "Share of successful test attempts whose final allowed amount fell inside the P10-P90 interval (80% "
            "expected)",
            percent,
            lower=0,
            upper=1,
        )
        if coverage
        else None,
    }
    monitoring, monitoring_error = None, None
    try:
        store = await anyio.to_thread.run_sync(request.app.state.store.get)
        report = await anyio.to_thread.run_sync(
            lambda: monitor_store(store, metadata.get("reference_profile"), thresholds=settings.monitoring_thresholds())
        )
        monitoring = report.to_dict()
    except Exception as failure:  # the page shows the model without monitoring rather than failing
        monitoring_error = type(failure).__name__
    other_metrics = {k: v for k, v in sorted(metrics.items()) if k.startswith(("settlement_", "days_"))}
    return render(
        request,
        "model.html",
        session,
        model=model,
        metadata=metadata,
        comparison=comparison,
        other_metrics=other_metrics,
        figures=figures,
        coverage=coverage,
        calibration=plots.get("calibration") or [],
        policy=model.policy.model_dump(),
        monitoring=monitoring,
        monitoring_error=monitoring_error,
        today=date.today(),
        dollars=dollars,
    )
