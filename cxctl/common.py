"""Shared pieces of the cxctl commands: RPC calls, output, input files."""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from pathlib import Path

import click
import yaml

DEFAULT_AMQP = "pyamqp://guest:guest@127.0.0.1:5672/"


class Ctx:
    def __init__(self, amqp_uri: str, timeout: float):
        self.amqp_uri = amqp_uri
        self.timeout = timeout

    @contextmanager
    def rpc(self):
        from nameko.standalone.rpc import ClusterRpcClient

        with ClusterRpcClient(uri=self.amqp_uri, timeout=self.timeout) as client:
            yield client


def call(ctx: Ctx, service: str, method: str, *args, **kwargs):
    """One RPC; remote BadRequest/NotFound become a clear CLI error."""
    from nameko.exceptions import RemoteError, RpcTimeout

    try:
        with ctx.rpc() as client:
            return getattr(getattr(client, service), method)(*args, **kwargs)
    except RemoteError as exc:
        if exc.exc_type in ("BadRequest", "NotFound", "Conflict"):
            lines = str(exc.value).split("; ")
            raise click.ClickException("\n  ".join([f"{exc.exc_type}:"] + lines)) from None
        raise click.ClickException(f"{service}.{method} failed: {exc}") from None
    except RpcTimeout:
        raise click.ClickException(
            f"no answer from the {service} service within {ctx.timeout}s (is it running?)"
        ) from None


def emit_json(data) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, sort_keys=False))


def table(rows: list[dict], columns: list[tuple[str, str]]) -> None:
    """Print rows as an aligned table; ``columns`` are (header, dotted key)."""

    def get(row, path):
        value = row
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, dict):
            return ",".join(f"{k}={v}" for k, v in value.items())
        return "" if value is None else str(value)

    cells = [[get(r, key) for _, key in columns] for r in rows]
    widths = [max([len(h)] + [_width(c[i]) for c in cells]) for i, (h, _) in enumerate(columns)]
    click.echo("  ".join(h.ljust(w) for (h, _), w in zip(columns, widths, strict=True)))
    for c in cells:
        click.echo("  ".join(_pad(v, w) for v, w in zip(c, widths, strict=True)))
    if not rows:
        click.echo("(none)")


def _width(text: str) -> int:
    # CJK characters take two terminal columns
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


def read_document(path: str):
    return read_document_and_text(path)[0]


def read_document_and_text(path: str) -> tuple:
    """The parsed document and the text it was parsed from (comments and all)."""
    text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    try:
        return yaml.safe_load(text), text
    except yaml.YAMLError as exc:
        raise click.ClickException(f"{path}: not valid YAML/JSON: {exc}") from None


json_option = click.option("--json", "as_json", is_flag=True, help="print JSON")
