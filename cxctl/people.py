"""cxctl people …: the people directory (kept by the cases service; notify follows it)."""

from __future__ import annotations

import click

from cxctl.common import Ctx, call, emit_json, json_option, read_document, table


@click.group()
def people():
    """Everyone once: people, teams and strategies (samples/people.yaml)."""


@people.command("apply")
@click.argument("file")
@click.option("--by", default="cxctl", show_default=True, help="who saves it (kept with the revision)")
@click.pass_obj
def people_apply(ctx: Ctx, file, by):
    """Validate the whole people directory in FILE (YAML/JSON, - for stdin) and save it."""
    saved = call(ctx, "cases", "save_people", read_document(file), by)
    click.echo(
        f"revision {saved['revision']}  people: {saved['people']}  teams: {saved['teams']}"
        f"  strategies: {saved['strategies']}"
    )


@people.command("list")
@json_option
@click.pass_obj
def people_list(ctx: Ctx, as_json):
    """Everyone in the directory, with their teams and the channels that reach them."""
    saved = call(ctx, "cases", "get_people")
    if as_json:
        return emit_json(saved)
    click.echo(f"revision {saved['revision']} (saved by {saved['by']} at {saved['changed_at']})")
    rows = [
        {
            **p,
            "teams": ",".join(p["teams"]),
            "shift": ("on" if p["on_shift"] else "off") if p["teams"] else "",
            "reach": ",".join(k for k, v in p["channels"].items() if v),
        }
        for p in saved["directory"]["people"]
    ]
    cols = [("id", "id"), ("name", "name"), ("role", "role"), ("teams", "teams"), ("shift", "shift")]
    table(rows, [*cols, ("channels", "reach")])


@people.command("show")
@click.argument("person_id")
@click.pass_obj
def people_show(ctx: Ctx, person_id):
    """One person as saved (or one team, when PERSON_ID names a team), as JSON."""
    directory = call(ctx, "cases", "get_people")["directory"]
    for kind in ("people", "teams"):
        found = next((p for p in directory[kind] if p["id"] == person_id), None)
        if found is not None:
            if kind == "teams":
                found = {
                    **found,
                    "members": [p["id"] for p in directory["people"] if person_id in p["teams"]],
                }
            return emit_json(found)
    raise click.ClickException(f"no person or team {person_id} in the people directory")


@people.command("announce")
@click.pass_obj
def people_announce(ctx: Ctx):
    """Announce the saved directory again (a reader that lost its copy catches up)."""
    saved = call(ctx, "cases", "announce_people")
    click.echo(f"announced revision {saved['revision']}")
