"""Server-rendered console pages: jinja2 with autoescaping, strings from i18n; and the
console's static assets."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape
from werkzeug.wrappers import Response

from services.gateway import audit_why
from services.gateway.charts import number
from services.gateway.errors import HttpError
from services.gateway.i18n import LANGUAGES, label, owner_label, translator

STATIC = Path(__file__).parent / "static"
STATIC_TYPES = {".js": "text/javascript", ".css": "text/css"}

env = Environment(
    loader=PackageLoader("services.gateway", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _when(value) -> str:
    if not value:
        return ""
    try:
        at = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


env.filters["when"] = _when
env.filters["duration"] = lambda seconds: number(seconds, "s")
env.filters["percent"] = lambda rate: number(rate, "%")
env.filters["number"] = lambda value: number(round(value, 2) if isinstance(value, float) else value)


def _owner(t, names: dict, owner: dict | None) -> str:
    """A person's or team's display name from the directory, else its kind and id."""
    if owner and names.get(f"{owner.get('kind')}:{owner.get('id')}"):
        return names[f"{owner['kind']}:{owner['id']}"]
    return owner_label(t, owner)


def render(template: str, principal, status: int = 200, headers=None, **context) -> Response:
    language = principal.language if principal else "zh-CN"
    t = translator(language)
    names = context.get("names") or {}
    html = env.get_template(template).render(
        t=t,
        label=lambda kind, code: label(t, kind, code),
        owner=lambda o: _owner(t, names, o),
        why=lambda entry: audit_why.why(t, entry),
        lang=language,
        languages=LANGUAGES,
        user=principal.user if principal else None,
        csrf=principal.csrf if principal else "",
        **context,
    )
    return Response(html, status=status, headers=headers, mimetype="text/html")


def error_page(error: HttpError, language: str) -> Response:
    html = env.get_template("error.html").render(
        t=translator(language), lang=language, languages=LANGUAGES, user=None, csrf="", error=error
    )
    return Response(html, status=error.status, headers=error.headers, mimetype="text/html")


def csv_download(body: str, filename: str) -> Response:
    """A CSV attachment (UTF-8)."""
    response = Response(body.encode("utf-8"), mimetype="text/csv")
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def static_asset(name: str) -> Response:
    """A file of ``static/`` (CSS, JS); 404 for any other name."""
    path = STATIC / name
    if name not in {p.name for p in STATIC.iterdir()} or path.suffix not in STATIC_TYPES:
        raise HttpError(404, "no such file")
    # the only answers a browser may keep (revalidated; the others are no-store, server.py)
    response = Response(path.read_bytes(), mimetype=STATIC_TYPES[path.suffix])
    response.headers["Cache-Control"] = "no-cache"
    return response
