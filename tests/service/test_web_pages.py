"""The web app's pages through a real app (TestClient): sign-in with an API key, CSRF on every form, a
worklist uploaded, paged, filtered and sorted, a claim and its brief, payers and the model. The same
flows in a real browser are in ``test_browser.py``."""

from __future__ import annotations

import io
import re
import time

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from pypdf import PdfReader

from service.app import create_app
from tests.service import fixtures_worklist
from tests.service.conftest import API_KEY
from tests.service.fixtures_worklist import BAD_ROWS, write_csv

worklist, worklist_bundle = fixtures_worklist.worklist, fixtures_worklist.worklist_bundle  # the fixtures
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


ROW = re.compile(
    r'<tr>\s*<td class="num">([\d,]+)</td>\s*<td><a href="[^"]+">[^<]*</a></td>\s*<td>([^<]*)</td>\s*<td>([^<]*)</td>'
    r'\s*<td class="num">([^<]*)</td>\s*<td class="num">([^<]*)</td>\s*<td>([^<]*)</td>\s*<td class="num">([^<]*)</td>'
)


def dollars(text: str) -> float:
    return float(text.replace("$", "").replace(",", ""))


def table_rows(page) -> list[dict]:
    """The ranked table's rows: rank, payer, level, billed, allowed, action, net recovery."""
    return [
        {
            "rank": int(rank.replace(",", "")),
            "payer": payer,
            "level": level,
            "billed": dollars(billed),
            "allowed": dollars(allowed),
            "action": action,
            "net": dollars(net),
        }
        for rank, payer, level, billed, allowed, action, net in ROW.findall(page.text)
    ]


def csrf(page) -> str:
    return CSRF.search(page.text).group(1)


@pytest.fixture(scope="module")
def web_settings(settings, tmp_path_factory):
    return settings.model_copy(update={"web_jobs_dir": tmp_path_factory.mktemp("web-jobs")})


@pytest.fixture(scope="module")
def app_client(web_settings):
    with TestClient(create_app(web_settings), base_url="http://testserver", follow_redirects=False) as client:
        yield client


@pytest.fixture(scope="module")
def signed_in(app_client) -> TestClient:
    form = app_client.get("/app/login")
    response = app_client.post("/app/login", data={"api_key": API_KEY, "csrf_token": csrf(form)})
    assert response.status_code == 303 and response.headers["location"] == "/app/worklists"
    return app_client


@pytest.fixture(scope="module")
def job(signed_in, worklist, tmp_path_factory) -> str:
    path = write_csv(worklist, tmp_path_factory.mktemp("upload") / "day.csv")
    page = signed_in.get("/app/worklists")
    response = signed_in.post(
        "/app/worklists", data={"csrf_token": csrf(page)}, files={"file": ("day.csv", path.read_bytes(), "text/csv")}
    )
    assert response.status_code == 303, response.text
    url = response.headers["location"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        page = signed_in.get(url)
        if "Ranked claims" in page.text or "could not be scored" in page.text:
            break
        assert 'http-equiv="refresh"' in page.text  # still scoring: the page refreshes itself
        time.sleep(0.5)
    assert "Ranked claims" in page.text, page.text
    return url


def test_pages_need_a_sign_in(app_client):
    fresh = TestClient(app_client.app, follow_redirects=False)
    for path in ("/app/worklists", "/app/claim", "/app/payers", "/app/model"):
        response = fresh.get(path)
        assert response.status_code == 303 and response.headers["location"] == "/app/login", path


def test_sign_in_takes_the_api_key_and_sets_a_strict_httponly_cookie_holding_no_key(web_settings):
    with TestClient(create_app(web_settings), follow_redirects=False) as client:
        form = client.get("/app/login")
        wrong = client.post("/app/login", data={"api_key": "not-a-key", "csrf_token": csrf(form)})
        assert wrong.status_code == 401 and "not one of this service" in wrong.text and "not-a-key" not in wrong.text
        right = client.post("/app/login", data={"api_key": API_KEY, "csrf_token": csrf(form)})
        assert right.status_code == 303
        cookie = right.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
        assert API_KEY not in cookie
        assert client.get("/app/worklists").status_code == 200


def test_sign_in_without_the_forms_token_is_refused(web_settings):
    with TestClient(create_app(web_settings), follow_redirects=False) as client:
        assert client.post("/app/login", data={"api_key": API_KEY}).status_code == 403


def test_every_post_needs_the_sessions_csrf_token(signed_in):
    assert signed_in.post("/app/logout").status_code == 403
    assert signed_in.post("/app/logout", data={"csrf_token": "forged"}).status_code == 403
    assert signed_in.post("/app/claim", data={"claim_id": "X"}).status_code == 403
    files = {"file": ("a.csv", b"claim_id\nX\n", "text/csv")}
    assert signed_in.post("/app/worklists", files=files).status_code == 403
    page = signed_in.get("/app/worklists")
    assert all(token == csrf(page) for token in CSRF.findall(page.text))


def test_a_session_ends_when_its_key_is_removed(web_settings, signed_in):
    cookie = signed_in.cookies.get("recoup_session")
    rotated = web_settings.model_copy(update={"api_keys": [SecretStr("a-new-key")]})
    with TestClient(create_app(rotated), follow_redirects=False, cookies={"recoup_session": cookie}) as client:
        assert client.get("/app/worklists").status_code == 303


def test_the_worklist_shows_its_summary_table_and_rejected_rows(signed_in, job, worklist):
    page = signed_in.get(job)
    assert f"{len(worklist) - len(BAD_ROWS):,}" in page.text  # scored
    assert "Summary by recommended action" in page.text and "Summary by payer" in page.text
    for row in BAD_ROWS:
        assert f'<td class="num">{row}</td>' in page.text
    assert "billed_amount" in page.text  # the rejected row's reason names its column
    assert "597 claims match" in page.text


def test_paging_filtering_and_sorting_happen_on_the_server(signed_in, job):
    first = table_rows(signed_in.get(f"{job}?size=25"))
    assert [row["rank"] for row in first] == list(range(1, 26))
    assert [row["net"] for row in first] == sorted((row["net"] for row in first), reverse=True)
    second = table_rows(signed_in.get(f"{job}?size=25&page=2"))
    assert [row["rank"] for row in second] == list(range(26, 51))
    payer = first[0]["payer"]
    filtered = table_rows(signed_in.get(f"{job}?payer={payer}&size=200"))
    assert filtered and {row["payer"] for row in filtered} == {payer}
    cheap = table_rows(signed_in.get(f"{job}?sort=billed_amount&order=asc&size=200"))
    assert len(cheap) == 200 and [row["billed"] for row in cheap] == sorted(row["billed"] for row in cheap)
    rich = table_rows(signed_in.get(f"{job}?min_amount=100&size=200"))
    assert rich and all(row["net"] >= 99.5 for row in rich)
    accepted = table_rows(signed_in.get(f"{job}?action=accept&size=200"))
    assert all(row["action"] == "accept" for row in accepted)
    fresh = table_rows(signed_in.get(f"{job}?level=none&size=200"))
    assert fresh and all(row["level"] == "none" for row in fresh)


def test_downloads_are_the_ranked_and_rejected_files(signed_in, job, worklist):
    ranked = pd.read_csv(io.BytesIO(signed_in.get(f"{job}/download/ranked.csv").content))
    assert len(ranked) == len(worklist) - len(BAD_ROWS)
    assert ranked["expected_net_recovery"].is_monotonic_decreasing
    rejects = pd.read_parquet(io.BytesIO(signed_in.get(f"{job}/download/rejects.parquet").content))
    assert sorted(rejects["row"]) == list(BAD_ROWS)
    assert signed_in.get(f"{job}/download/secrets.csv").status_code == 404


def test_a_claim_page_shows_the_ladder_path_reasons_and_links_to_its_brief(signed_in, job, client, worklist):
    page = signed_in.get(job)
    link = re.search(r'href="(/app/worklists/[^"]+/claims/(\d+))">([^<]+)</a>', page.text)
    url, row, claim_id = link.group(1), int(link.group(2)), link.group(3)
    assert claim_id not in url  # addressed by row number, never by claim data
    claim = signed_in.get(url)
    assert claim.status_code == 200 and "<svg" in claim.text and "The ladder" in claim.text
    raw = worklist.iloc[row - 1].to_dict()
    body = {
        k: None if pd.isna(v) else v.date().isoformat() if isinstance(v, pd.Timestamp) else v for k, v in raw.items()
    }
    scored = client.post("/v1/score", json=body).json()
    action = scored["recommendation"]["action"].replace("_", " ")
    assert f'id="recommended">{action}</div>' in claim.text
    for reason in scored["reasons"]:
        assert reason.replace("'", "&#39;") in claim.text
    brief = signed_in.get(f"{url}/brief")
    assert brief.status_code == 200 and "Negotiation brief" in brief.text and "Opening ask" in brief.text
    assert not re.search(r"&lt;NA&gt;|\bnan\b|\bNone\b|NaT", brief.text)  # a missing value reads "not given"
    pdf = signed_in.get(f"{url}/brief?format=pdf")
    assert pdf.headers["content-type"] == "application/pdf"
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    assert f"claim {claim_id}" in text


def test_a_typed_in_claim_is_posted_scored_and_briefed(signed_in, claim):
    form = signed_in.get("/app/claim")
    token = csrf(form)
    fields = {k: ("true" if v is True else v) for k, v in claim.items() if v is not None and v is not False}
    page = signed_in.post("/app/claim", data={"csrf_token": token, **{k: str(v) for k, v in fields.items()}})
    assert page.status_code == 200 and "The ladder" in page.text
    assert 'action="/app/claim/brief"' in page.text
    pdf = signed_in.post(
        "/app/claim/brief", data={"csrf_token": token, "format": "pdf", **{k: str(v) for k, v in fields.items()}}
    )
    assert pdf.headers["content-type"] == "application/pdf"
    bad = signed_in.post(
        "/app/claim", data={"csrf_token": token, **{k: str(v) for k, v in fields.items()}, "billed_amount": "-3"}
    )
    assert bad.status_code == 422 and "billed amount" in bad.text


def test_payer_pages_show_the_record_with_charts_and_the_idr_record(signed_in, model_store):
    listing = signed_in.get("/app/payers")
    assert listing.status_code == 200
    payer = model_store.payer_ids[0]
    assert payer in listing.text
    page = signed_in.get(f"/app/payers/{payer}")
    assert page.status_code == 200 and page.text.count("<svg") >= 3
    assert "Federal IDR record" in page.text and "Success rate by level" in page.text
    assert signed_in.get("/app/payers/NOBODY_AT_ALL_123").status_code == 404


def test_the_model_page_shows_metrics_beside_baselines_plots_and_policy(signed_in, model_store):
    page = signed_in.get("/app/model")
    assert page.status_code == 200 and f"v{model_store.version}" in page.text
    assert "Logistic regression" in page.text and "Payer x level rates" in page.text
    assert re.search(r'ROC AUC</td><td class="num">0\.\d{4}</td><td class="num">0\.\d{4}</td>', page.text)
    assert page.text.count("<svg") == 2  # calibration and coverage
    assert "Policy in force" in page.text and "Monitoring" in page.text


def test_an_unknown_worklist_is_a_page_not_json(signed_in):
    page = signed_in.get("/app/worklists/doesnotexist00000000")
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
