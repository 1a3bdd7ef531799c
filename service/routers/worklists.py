"""``POST /v1/worklists``: upload a worklist (CSV or Parquet), get it back ranked by expected net recovery.

The same scoring as ``recoup score`` (``service.worklist.score_worklist``): the upload is written to a
temporary directory, scored in chunks in a worker thread under the service's scoring limiter and its
policy settings, ranked with the external merge, and streamed back from disk, so memory stays flat
whatever the upload's size. The largest upload accepted is ``max_worklist_bytes``.

The response is ``multipart/mixed`` with three parts, each a whole file in the requested format:
``ranked`` (every scored row, highest expected net recovery first), ``rejects`` (every rejected row
with its ``errors``; header only when none) and ``batches`` (the batched Federal IDR disputes the
worklist's claims may share, as ``recoup score --batch-idr`` writes them; absent with
``?batch_idr=false``). Rejected rows get a part of their own rather than a header
because there can be many of them and their errors quote the values as uploaded, which headers (logged
by proxies) should not carry. Headers give the counts at a glance: ``X-Recoup-Rows-Read``,
``X-Recoup-Rows-Scored``, ``X-Recoup-Rows-Rejected``, ``X-Recoup-Expected-Net-Recovery``,
``X-Recoup-Model-Version`` and ``X-Recoup-IDR-Batches``. The format is CSV, or Parquet with
``?format=parquet`` or an ``Accept`` header naming ``application/vnd.apache.parquet``.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, File, Header, HTTPException, Query, Request, UploadFile, status
from fastapi.responses import Response, StreamingResponse
from starlette.background import BackgroundTask

from features.io import DEFAULT_ENCODING, TableReadError
from service.dependencies import LimiterDep, ModelDep
from service.schemas import MODEL_ROUTE_ERRORS, WORKLIST_RESPONSE, ErrorResponse, ValidationErrorResponse
from service.worklist import score_worklist

router = APIRouter(prefix="/v1/worklists", tags=["worklists"])

STREAM_BLOCK_BYTES = 1024 * 1024
PARQUET_MEDIA_TYPE = "application/vnd.apache.parquet"
MEDIA_TYPES = {".csv": "text/csv", ".parquet": PARQUET_MEDIA_TYPE}
UPLOAD_SUFFIXES = {".csv": ".csv", ".parquet": ".parquet", ".pq": ".parquet"}
UPLOAD_MEDIA_TYPES = {
    "text/csv": ".csv",
    "application/csv": ".csv",
    PARQUET_MEDIA_TYPE: ".parquet",
    "application/x-parquet": ".parquet",
}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    **MODEL_ROUTE_ERRORS,
    400: {"model": ErrorResponse, "description": "The body is not a well-formed multipart upload."},
    413: {"model": ErrorResponse, "description": "Upload larger than the service's max_worklist_bytes."},
    415: {"model": ErrorResponse, "description": "The upload is neither CSV nor Parquet."},
    422: {"model": ValidationErrorResponse, "description": "No upload, or it could not be read as a table."},
}


class OutputFormat(StrEnum):
    csv = "csv"
    parquet = "parquet"


def max_worklist_bytes(request: Request) -> int:
    return request.app.state.settings.max_worklist_bytes


def upload_table_suffix(upload: UploadFile) -> str:
    """``.csv`` or ``.parquet``, from the file name, else from the part's content type."""
    suffix = Path(upload.filename or "").suffix.lower()
    if suffix in UPLOAD_SUFFIXES:
        return UPLOAD_SUFFIXES[suffix]
    media_type = (upload.content_type or "").split(";")[0].strip().lower()
    if media_type in UPLOAD_MEDIA_TYPES:
        return UPLOAD_MEDIA_TYPES[media_type]
    raise HTTPException(
        status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "upload a .csv or .parquet file (by name or content type)"
    )


def upload_charset(upload: UploadFile) -> str | None:
    """The ``charset`` parameter of the part's content type, if any."""
    for parameter in (upload.content_type or "").split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip():
            return value.strip().strip('"')
    return None


def _output_suffix(output_format: OutputFormat | None, accept: str | None) -> str:
    if output_format is None:
        output_format = OutputFormat.parquet if PARQUET_MEDIA_TYPE in (accept or "") else OutputFormat.csv
    return f".{output_format.value}"


def copy_upload(upload: UploadFile, target: Path, limit: int) -> None:
    """Copy the upload to ``target``; 413 past ``limit`` bytes (the spooled upload is read, not the wire)."""
    copied = 0
    with target.open("wb") as out:
        while block := upload.file.read(STREAM_BLOCK_BYTES):
            copied += len(block)
            if copied > limit:
                raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"the worklist is larger than {limit:,} bytes")
            out.write(block)


def is_x12(upload: UploadFile) -> bool:
    """Whether the upload is X12 by content (it starts with an ISA segment), whatever its name."""
    head = upload.file.read(512)
    upload.file.seek(0)
    return head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"ISA")


def import_x12(source: Path, folder: Path, name: str | None, defaults: list[str]) -> Path:
    """The upload's candidate claims as a Parquet worklist, the import report beside it; 422 when the 835
    gives nothing to score or an option is wrong."""
    from features.x12 import ImportError_, ImportOptions, parse_defaults, x12_scoring_table

    table = folder / "worklist.parquet"
    try:
        report = x12_scoring_table([source], table, ImportOptions(defaults=parse_defaults(defaults)))
    except ImportError_ as error:
        message = str(error).replace(str(source), name or "the upload")
        detail = [{"type": "x12_import", "loc": ["body", "file"], "msg": message}]
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail) from None
    text = report.to_text(max_problems=len(report.problems)).replace(str(source), name or "the upload")
    (folder / "x12_report.txt").write_text(text + "\n")
    return table


async def _multipart(parts: list[tuple[str, Path, str]], boundary: str) -> AsyncIterator[bytes]:
    """The files as the parts of a ``multipart/mixed`` body, read from disk a block at a time."""
    for name, path, media_type in parts:
        disposition = f'attachment; name="{name}"; filename="{name}{path.suffix}"'
        head = f"--{boundary}\r\nContent-Type: {media_type}\r\nContent-Disposition: {disposition}\r\n\r\n"
        yield head.encode()
        async with await anyio.open_file(path, "rb") as file:
            while block := await file.read(STREAM_BLOCK_BYTES):
                yield block
        yield b"\r\n"
    yield f"--{boundary}--\r\n".encode()


@router.post(
    "",
    response_class=Response,  # a multipart/mixed stream, described by WORKLIST_RESPONSE; never JSON
    responses={**ERROR_RESPONSES, 200: WORKLIST_RESPONSE},
)
async def score_worklist_upload(
    request: Request,
    model: ModelDep,
    limiter: LimiterDep,
    file: Annotated[
        UploadFile,
        File(
            description="The worklist: CSV or Parquet, the contract's claim columns "
            "plus current_level, current_allowed_amount, dates."
        ),
    ],
    output_format: Annotated[
        OutputFormat | None,
        Query(
            alias="format",
            description="Format of the returned files (default: CSV, or Parquet when Accept asks for it).",
        ),
    ] = None,
    encoding: Annotated[
        str | None,
        Query(description="Encoding of a CSV upload (default: the part's charset, else UTF-8).", examples=["latin-1"]),
    ] = None,
    batch_idr: Annotated[
        bool,
        Query(
            description="Group the claims that may share a batched Federal IDR dispute and price IDR at each "
            "claim's share of its batch's fees (the batches part); false scores every claim alone."
        ),
    ] = True,
    accept: Annotated[str | None, Header()] = None,
    x12_defaults: Annotated[
        list[str] | None,
        Query(
            alias="default",
            description="X12 835 upload: COLUMN=VALUE for a contract column the 835 does not give (repeatable).",
            examples=["place_of_service=23"],
        ),
    ] = None,
) -> StreamingResponse:
    """Score a worklist: every claim ranked by expected net recovery, with its ladder, reasons, warnings.

    An X12 835 upload (detected by content) is imported as by ``recoup import-x12``; its denied and
    underpaid claims are scored, and the import report comes back as a third part, ``x12_report``."""
    x12 = is_x12(file)
    upload_suffix = ".x12" if x12 else upload_table_suffix(file)
    folder = Path(tempfile.mkdtemp(prefix="recoup-worklist-"))
    extra_parts: list[tuple[str, Path, str]] = []
    try:
        source = folder / f"worklist{upload_suffix}"
        await anyio.to_thread.run_sync(copy_upload, file, source, max_worklist_bytes(request))
        if x12:
            source = await anyio.to_thread.run_sync(import_x12, source, folder, file.filename, x12_defaults or [])
            extra_parts.append(("x12_report", folder / "x12_report.txt", "text/plain"))
        suffix = _output_suffix(output_format, accept)
        ranked, rejects = folder / f"ranked{suffix}", folder / f"rejects{suffix}"
        scoring = partial(
            score_worklist,
            source,
            ranked,
            model.bundle,
            rejects=rejects,
            progress=False,
            policy=model.policy,
            encoding=encoding or upload_charset(file) or DEFAULT_ENCODING,
            batch_idr=batch_idr,
        )
        try:
            summary = await anyio.to_thread.run_sync(scoring, limiter=limiter)
        except TableReadError as error:  # named by the upload's name, not the temporary path
            message = str(error).replace(str(source), file.filename or "the upload")
            detail = [{"type": "unreadable_table", "loc": ["body", "file"], "msg": message}]
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail) from None
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    boundary = secrets.token_hex(16)
    media_type = MEDIA_TYPES[suffix]
    headers = {
        "X-Recoup-Rows-Read": str(summary.rows_read),
        "X-Recoup-Rows-Scored": str(summary.scored),
        "X-Recoup-Rows-Rejected": str(summary.rejected),
        "X-Recoup-Expected-Net-Recovery": f"{summary.total_expected_recovery:.2f}",
        "X-Recoup-Model-Version": str(model.version),
        "X-Recoup-IDR-Batches": str(len(summary.by_batch)),
    }
    parts = [("ranked", ranked, media_type), ("rejects", rejects, media_type)]
    if summary.batches is not None:
        parts.append(("batches", summary.batches, media_type))
    return StreamingResponse(
        _multipart([*parts, *extra_parts], boundary),
        media_type=f"multipart/mixed; boundary={boundary}",
        headers=headers,
        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
    )
