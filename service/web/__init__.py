"""The analyst web app at ``/app``, the offline API docs at ``/docs`` and ``/redoc``, and the brief's pages.

Everything a page loads ships in the package (``static/``, vendored files under ``static/vendor`` written
by ``scripts/vendor_web_assets.py``): a hospital network often has no internet, so nothing comes from a
CDN. Pages are rendered on the server from Jinja2 templates (``templates/``), charts as inline SVG.
"""

from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"
TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_PREFIX = "/static"
