"""Worklist jobs of the web app: an upload scored in the background by the same machinery as
``POST /v1/worklists`` (``service.worklist.score_worklist``, the X12 import of the worklist route), its
state and results kept on disk.

A job is a folder under the jobs directory named by a random id: the upload, ``status.json`` (state,
counts, the summary by action and by payer, an error worded without temporary paths), and, when done,
``ranked.parquet`` and ``rejects.parquet``. State lives on disk rather than in memory so that any worker
process of the service can show a job. Scoring runs in a worker thread under the service's scoring
limiter. Folders older than ``web_job_hours`` are removed when a new job starts.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from anyio import CapacityLimiter
from fastapi import HTTPException, UploadFile

from features.io import DEFAULT_ENCODING, TableReadError
from service.model_holder import LoadedModel
from service.observability import describe_exception
from service.routers.worklists import copy_upload, import_x12, is_x12, upload_charset, upload_table_suffix
from service.settings import Settings
from service.worklist import score_worklist
from service.worklist.chunks import input_rows

logger = logging.getLogger(__name__)
JOB_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
STATUS = "status.json"
RANKED = "ranked.parquet"
REJECTS = "rejects.parquet"
UNREADABLE = "the worklist could not be read"


def jobs_root(settings: Settings) -> Path:
    root = settings.web_jobs_dir or Path(tempfile.gettempdir()) / "recoup-web-jobs"
    root.mkdir(parents=True, exist_ok=True)
    return root


@dataclass(frozen=True)
class Job:
    id: str
    folder: Path
    status: dict[str, Any]

    @property
    def state(self) -> str:
        return str(self.status.get("state"))

    @property
    def ranked(self) -> Path:
        return self.folder / RANKED

    @property
    def rejects(self) -> Path:
        return self.folder / REJECTS


def _write_status(folder: Path, status: dict[str, Any]) -> None:
    scratch = folder / f".{STATUS}.tmp"
    scratch.write_text(json.dumps(status))
    scratch.replace(folder / STATUS)  # readers never see half a file


def find_job(settings: Settings, job_id: str) -> Job:
    """The job ``job_id``; 404 for an unknown or malformed id."""
    if not JOB_ID.fullmatch(job_id):
        raise HTTPException(404, "no such worklist")
    folder = jobs_root(settings) / job_id
    try:
        status = json.loads((folder / STATUS).read_text())
    except (OSError, ValueError):
        raise HTTPException(404, "no such worklist") from None
    return Job(job_id, folder, status)


def list_jobs(settings: Settings, limit: int = 20) -> list[Job]:
    jobs = []
    for folder in jobs_root(settings).iterdir():
        try:
            jobs.append(Job(folder.name, folder, json.loads((folder / STATUS).read_text())))
        except (OSError, ValueError):
            continue
    return sorted(jobs, key=lambda job: job.status.get("created", 0), reverse=True)[:limit]


def _clean_old(settings: Settings) -> None:
    cutoff = time.time() - settings.web_job_hours * 3600
    for folder in jobs_root(settings).iterdir():
        status = folder / STATUS
        if folder.is_dir() and status.exists() and status.stat().st_mtime < cutoff:
            shutil.rmtree(folder, ignore_errors=True)


def _score(job: Job, source: Path, name: str, model: LoadedModel, encoding: str, x12: bool) -> None:
    """Import (835) and score the upload; the outcome goes into ``status.json``."""
    status = dict(job.status)
    started = time.perf_counter()
    try:
        if x12:
            status |= {"state": "importing"}
            _write_status(job.folder, status)
            try:
                source = import_x12(source, job.folder, name, [])
            except HTTPException as error:
                raise ValueError(error.detail[0]["msg"] if isinstance(error.detail, list) else error.detail) from None
        status |= {"state": "scoring", "rows_total": input_rows(source)}
        _write_status(job.folder, status)
        summary = score_worklist(
            source,
            job.ranked,
            model.bundle,
            rejects=job.rejects,
            progress=False,
            policy=model.policy,
            encoding=encoding,
        )
    except (TableReadError, ValueError) as error:  # the user's file: say why, by its name
        message = str(error).replace(str(source), name).replace(str(job.folder), "")
        _write_status(job.folder, status | {"state": "failed", "error": message})
        return
    except Exception as failure:
        logger.error("worklist scoring failed", extra=describe_exception(failure))
        _write_status(job.folder, status | {"state": "failed", "error": UNREADABLE})
        return
    result = summary.to_dict()
    _write_status(
        job.folder,
        status
        | {
            "state": "done",
            "rows_read": result["rows_read"],
            "scored": result["scored"],
            "rejected": result["rejected"],
            "seconds": round(time.perf_counter() - started, 2),
            "total_expected_recovery": result["total_expected_recovery"],
            "by_action": result["by_action"],
            "by_payer": result["by_payer"],
            "model_version": model.version,
            "x12_report": (job.folder / "x12_report.txt").exists(),
        },
    )


async def start_job(
    settings: Settings, upload: UploadFile, model: LoadedModel, limiter: CapacityLimiter, tasks: set[asyncio.Task]
) -> Job:
    """Save the upload and start scoring it in the background; 413/415 as the worklist route answers."""
    await anyio.to_thread.run_sync(_clean_old, settings)
    x12 = is_x12(upload)
    suffix = ".x12" if x12 else upload_table_suffix(upload)
    job_id = secrets.token_urlsafe(16)
    folder = jobs_root(settings) / job_id
    folder.mkdir()
    source = folder / f"upload{suffix}"
    name = Path(upload.filename or "the upload").name
    try:
        await anyio.to_thread.run_sync(copy_upload, upload, source, settings.max_worklist_bytes)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    status = {"state": "queued", "file": name, "created": time.time(), "kind": "835" if x12 else suffix[1:]}
    _write_status(folder, status)
    job = Job(job_id, folder, status)
    encoding = upload_charset(upload) or DEFAULT_ENCODING
    task = asyncio.create_task(
        anyio.to_thread.run_sync(_score, job, source, name, model, encoding, x12, limiter=limiter)
    )
    tasks.add(task)
    task.add_done_callback(tasks.discard)
    return job
