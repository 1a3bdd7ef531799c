"""The web app in a real browser (Playwright driving Debian's chromium) over a real uvicorn process: sign
in, upload a worklist, page and filter it, open a claim and its brief, download the PDF, look at payers
and the model, and check every page with axe-core (WCAG 2.1 A and AA) and the keyboard.

Chromium comes from the system (``make test`` installs Debian's package where it can); without it these
tests skip, and fail when ``RECOUP_REQUIRE_BROWSER=1`` (``.ci/run`` sets it). Screenshots of every page
are kept in ``test-artifacts/browser/``.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from pypdf import PdfReader

from tests.service import fixtures_worklist
from tests.service.conftest import API_KEY
from tests.service.fixtures_worklist import write_csv
from tests.service.test_server import _server_environment, running_server

worklist = fixtures_worklist.worklist  # the fixture
ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "tests" / "fixtures" / "axe" / "axe.min.js"
ARTIFACTS = Path(os.environ.get("RECOUP_TEST_ARTIFACTS", ROOT / "test-artifacts")) / "browser"
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
TIMEOUT_MS = 180_000


def _chromium() -> str:
    path = os.environ.get("RECOUP_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if path:
        return path
    reason = "no chromium on this machine (make test installs Debian's chromium as root; or set RECOUP_CHROMIUM)"
    if os.environ.get("RECOUP_REQUIRE_BROWSER") == "1":
        pytest.fail(f"the browser tests are required (RECOUP_REQUIRE_BROWSER=1) but there is {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def base_url(model_store, tmp_path_factory) -> str:
    """The service in its own uvicorn process on a free loopback port."""
    folder = tmp_path_factory.mktemp("browser-server")
    env = _server_environment(model_store) | {"RECOUP_WEB_JOBS_DIR": str(folder / "jobs")}
    with running_server(env, folder) as (base, _, _):
        yield base


@pytest.fixture(scope="module")
def browser():
    executable = _chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def page(browser, base_url):
    """One signed-in tab; every request to anything but the service is blocked and counted."""
    context = browser.new_context(base_url=base_url, accept_downloads=True, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    outside: list[str] = []

    def only_local(route) -> None:
        if route.request.url.startswith(base_url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_local)
    tab = context.new_page()
    tab.outside = outside
    yield tab
    context.close()
    assert not outside, f"pages asked for files outside the service: {outside}"


def accessible(tab, name: str) -> None:
    """No WCAG 2.1 A/AA violation axe-core finds; a screenshot kept as an artifact."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    tab.add_script_tag(path=str(AXE))
    result = tab.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG)
    problems = [
        f"{item['id']} ({item['impact']}): {item['help']} at {[node['target'] for node in item['nodes']][:3]}"
        for item in result["violations"]
    ]
    assert not problems, f"{name}: " + "; ".join(problems)


@pytest.fixture(scope="module")
def signed_in(page):
    page.goto("/app/worklists")
    assert page.url.endswith("/app/login")
    accessible(page, "01-sign-in")
    page.get_by_label("API key").fill("not-a-key")
    page.get_by_role("button", name="Sign in").click()
    assert "not one of this service's API keys" in page.locator("[role=alert]").inner_text()
    page.get_by_label("API key").fill(API_KEY)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/app/worklists")
    return page


@pytest.fixture(scope="module")
def uploaded(signed_in, worklist, tmp_path_factory):
    page = signed_in
    accessible(page, "02-worklists")
    path = write_csv(worklist, tmp_path_factory.mktemp("browser-upload") / "todays-remittances.csv")
    page.get_by_label("File (CSV, Parquet or 835)").set_input_files(str(path))
    page.get_by_role("button", name="Upload and score").click()
    page.get_by_role("heading", name="Ranked claims").wait_for()  # the page refreshes itself until scored
    return page


def test_the_keyboard_reaches_the_skip_link_and_the_navigation_first(signed_in):
    page = signed_in
    page.goto("/app/worklists")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Worklists"
    page.keyboard.press("Enter")
    page.wait_for_url("**/app/worklists")


def test_upload_then_page_and_filter_the_ranked_worklist(uploaded):
    page = uploaded
    worklist_url = page.url
    accessible(page, "03-worklist")
    assert page.locator("#summary").is_visible()
    assert re.search(r"597 claims match; page 1 of \d+", page.locator("#matched").inner_text())
    page.get_by_role("link", name="Next").click()
    page.wait_for_url(re.compile(r".*page=2"))
    assert "page 2 of" in page.locator("#matched").inner_text()
    payer = page.locator("#f-payer option").nth(1).inner_text()
    page.get_by_label("Payer").select_option(payer)
    page.get_by_label("Rows per page").select_option("200")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(r".*payer="))
    cells = page.locator("table[aria-describedby=matched] tbody tr td:nth-child(3)").all_inner_texts()
    assert cells and set(cells) == {payer}
    accessible(page, "04-worklist-filtered")
    page.goto(worklist_url)


def test_open_a_claim_its_brief_and_download_the_pdf(uploaded, tmp_path):
    page = uploaded
    first = page.locator("table[aria-describedby=matched] tbody tr").first
    claim_id = first.locator("td:nth-child(2) a").inner_text()
    first.locator("td:nth-child(2) a").click()
    page.get_by_role("heading", name="The ladder").wait_for()
    assert claim_id not in page.url  # no claim data in the address
    assert page.locator("figure svg").count() == 1
    accessible(page, "05-claim")
    claim_url = page.url
    page.get_by_role("link", name="Open the brief").click()
    page.get_by_role("heading", name="Opening ask and expected counter").wait_for()
    accessible(page, "06-brief")
    page.goto(claim_url)
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the brief (PDF)").click()
    pdf = tmp_path / "brief.pdf"
    download.value.save_as(pdf)
    text = " ".join(p.extract_text() for p in PdfReader(pdf).pages)
    assert f"claim {claim_id}" in text and "Opening ask" in text
    shutil.copy(pdf, ARTIFACTS / "brief.pdf")


def test_a_typed_in_claim_is_scored_and_briefed(signed_in):
    page = signed_in
    page.goto("/app/claim")
    accessible(page, "07-claim-form")
    page.get_by_role("button", name="Score the claim").click()
    page.get_by_role("heading", name="The ladder").wait_for()
    assert page.url.endswith("/app/claim")  # posted: the claim is not in the address
    with page.expect_download() as download:
        page.get_by_role("button", name="Download the brief (PDF)").click()
    assert download.value.suggested_filename == "brief.pdf"


def test_payers_and_the_model(signed_in, model_store):
    page = signed_in
    page.goto("/app/payers")
    accessible(page, "08-payers")
    page.get_by_role("link", name=model_store.payer_ids[0], exact=True).click()
    page.get_by_role("heading", name="Federal IDR record").wait_for()
    accessible(page, "09-payer")
    page.goto("/app/model")
    page.get_by_role("heading", name="Calibration").wait_for()
    accessible(page, "10-model")


def test_the_api_docs_render_offline(page, base_url):
    page.goto("/docs")
    page.locator(".swagger-ui .info .title").wait_for()
    page.screenshot(path=str(ARTIFACTS / "11-docs.png"))
    page.goto("/redoc")
    page.locator("h1").first.wait_for()
    assert "recoup" in page.locator("h1").first.inner_text()
    page.screenshot(path=str(ARTIFACTS / "12-redoc.png"))
    assert not [url for url in page.outside if "cdn" in url]
