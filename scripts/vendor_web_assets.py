"""Re-fetch the vendored browser files at their pinned versions (npm registry, ``npm pack``).

The web app and the API docs are served offline (hospital networks often have no internet), so the
files they load ship inside the package: Swagger UI for ``/docs``, ReDoc for ``/redoc``, and axe-core
for the accessibility checks of the browser tests (test-only, under tests/). Run from the repository
root after changing a version; commit the files it writes:

    .venv/bin/python scripts/vendor_web_assets.py
"""

from __future__ import annotations

import subprocess
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STATIC = ROOT / "service" / "web" / "static" / "vendor"
#: package@version -> {path in the tarball: where it goes}
ASSETS: dict[str, dict[str, Path]] = {
    "swagger-ui-dist@5.35.0": {
        "package/swagger-ui-bundle.js": STATIC / "swagger-ui" / "swagger-ui-bundle.js",
        "package/swagger-ui.css": STATIC / "swagger-ui" / "swagger-ui.css",
        "package/favicon-32x32.png": STATIC / "swagger-ui" / "favicon-32x32.png",
        "package/LICENSE": STATIC / "swagger-ui" / "LICENSE",
    },
    "redoc@2.5.2": {
        "package/bundles/redoc.standalone.js": STATIC / "redoc" / "redoc.standalone.js",
        "package/LICENSE": STATIC / "redoc" / "LICENSE",
    },
    "axe-core@4.14.1": {
        "package/axe.min.js": ROOT / "tests" / "fixtures" / "axe" / "axe.min.js",
        "package/LICENSE": ROOT / "tests" / "fixtures" / "axe" / "LICENSE",
    },
}


#: Edits to the vendored files, so that they load nothing from outside the service: ReDoc's side menu shows
#: Redocly's logo from its CDN (an <img> that hides itself when it fails to load), pointed at an empty
#: data URI instead.
PATCHES: dict[str, list[tuple[bytes, bytes]]] = {
    "package/bundles/redoc.standalone.js": [(b"https://cdn.redoc.ly/redoc/logo-mini.svg", b"data:,")],
}


def fetch(spec: str, files: dict[str, Path], scratch: Path) -> None:
    name = subprocess.run(
        ["npm", "pack", spec, "--silent", "--pack-destination", str(scratch)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()[-1]
    with tarfile.open(scratch / name) as tarball:
        for member, target in files.items():
            source = tarball.extractfile(member)
            if source is None:
                raise SystemExit(f"{spec}: {member} is not a file in the package")
            content = source.read()
            for old, new in PATCHES.get(member, []):
                if old not in content:
                    raise SystemExit(f"{spec}: {member} no longer holds {old!r}: review PATCHES")
                content = content.replace(old, new)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
            print(f"{spec}: {member} -> {target.relative_to(ROOT)}")


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        for spec, files in ASSETS.items():
            fetch(spec, files, Path(scratch))


if __name__ == "__main__":
    main()
