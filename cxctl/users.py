"""cxctl users …: console users and API tokens (kept by the gateway service)."""

from __future__ import annotations

import os
import sys

import click

from cxctl.common import Ctx, call, emit_json, json_option, table


@click.group()
def users():
    """People who log in to the console, integrations that call the API."""


@users.command("add")
@click.argument("user_id")
@click.option("--role", required=True, type=click.Choice(["agent", "owner", "admin", "integration"]))
@click.option("--name", help="display name")
@click.option("--team", "teams", multiple=True, help="a team the user belongs to (repeatable)")
@click.option("--language", type=click.Choice(["zh-CN", "en"]), default="zh-CN", show_default=True)
@click.option("--password-stdin", is_flag=True, help="read the password from the first line of stdin")
@click.option("--password-env", metavar="VAR", help="read the password from this environment variable")
@click.pass_obj
def users_add(ctx: Ctx, user_id, role, name, teams, language, password_stdin, password_env):
    """Create or replace a user (people need a password to log in; integrations never have one)."""
    password = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif password_env:
        password = os.environ.get(password_env) or None
    elif role != "integration" and sys.stdin.isatty():
        password = click.prompt("password", hide_input=True, confirmation_prompt=True)
    document = {"id": user_id, "role": role, "teams": list(teams), "language": language}
    if name:
        document["name"] = name
    if password:
        document["password"] = password
    user = call(ctx, "gateway", "put_user", document)
    click.echo(f"{user['id']}: {user['role']}" + ("" if user["can_log_in"] else " (cannot log in)"))


@users.command("list")
@json_option
@click.pass_obj
def users_list(ctx: Ctx, as_json):
    rows = call(ctx, "gateway", "list_users")
    if as_json:
        return emit_json(rows)
    table(rows, [("id", "id"), ("name", "name"), ("role", "role"), ("language", "language")])


@users.command("token")
@click.argument("user_id")
@click.option("--name", default="default", show_default=True, help="a label to revoke it by")
@click.pass_obj
def users_token(ctx: Ctx, user_id, name):
    """Issue an API token for USER_ID and print it (it is shown only this once)."""
    click.echo(call(ctx, "gateway", "issue_token", user_id, name)["token"])


@users.command("tokens")
@json_option
@click.pass_obj
def users_tokens(ctx: Ctx, as_json):
    """Every API token's user, label and creation time (never the token itself)."""
    rows = call(ctx, "gateway", "list_tokens")
    if as_json:
        return emit_json(rows)
    table(rows, [("user", "user_id"), ("label", "name"), ("created", "created_at")])


@users.command("revoke")
@click.argument("user_id")
@click.option("--name", help="only the token with this label")
@click.pass_obj
def users_revoke(ctx: Ctx, user_id, name):
    """Delete USER_ID's API tokens."""
    click.echo(f"revoked {call(ctx, 'gateway', 'revoke_tokens', user_id, name)['revoked']} token(s)")
