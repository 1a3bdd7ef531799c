"""``/docs`` and ``/redoc`` load nothing from outside the service: every script, stylesheet and icon they
name is served by it (the vendored files), so they work on a network without internet."""

from __future__ import annotations

import re

import pytest

EXTERNAL = re.compile(r"""(?:src|href|url)\s*[=(:]\s*["']?(?:https?:)?//""", re.IGNORECASE)
ASSET = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url\s*:\s*["']([^"']+)["']""")


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_the_api_docs_name_only_files_the_service_serves(client, path):
    page = client.get(path)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert not EXTERNAL.search(page.text), EXTERNAL.search(page.text)
    assert "cdn" not in page.text.lower()
    assets = [next(filter(None, match)) for match in ASSET.findall(page.text)]
    assert any(asset.endswith(".js") for asset in assets), assets
    for asset in assets:
        fetched = client.get(asset)
        assert fetched.status_code == 200, asset
        assert len(fetched.content) > 0, asset
    assert any(len(client.get(asset).content) > 100_000 for asset in assets if asset.endswith(".js"))
