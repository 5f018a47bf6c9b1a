"""``dwp history`` lists the versions a key keeps, ``dwp restore`` writes one back (a
normal write with the key's current context, so it supersedes what is current), and
``dwp gc`` runs a garbage collection round or says what one would remove."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from browser_cli.deploys import report_live
from browser_cli.http import Gateway, object_path, run
from browser_cli.options import DEFAULT_GATEWAY, GatewayOption, JsonOption, NetworkOption
from browser_cli.terminal import count, date, out, print_json, size

GC_TIMEOUT = 900.0  # a round visits every node; on a large network it takes a while
RESTORE_TIMEOUT = 900.0  # the gateway copies the version (up to the upload limit) first


def state_of(entry: dict[str, Any]) -> str:
    """How a history entry reads in the table: a delete, a current version, or one a
    later write replaced."""
    if entry["deleted"]:
        return "deleted"
    return "current" if entry["current"] else "replaced"


def history(
    key: Annotated[str, typer.Argument(help="The object: SITE/PATH.")],
    gateway: GatewayOption = DEFAULT_GATEWAY,
    network: NetworkOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the versions KEY keeps, newest first (a delete among them)."""
    doc = run(_history(key, gateway, network))
    if as_json:
        print_json(doc)
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for name, justify in (("VERSION", "left"), ("WRITTEN", "left"), ("SIZE", "right"),
                          ("TYPE", "left"), ("STATE", "left"), ("NODE", "left")):
        table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for v in doc["versions"]:
        deleted = v["deleted"]
        table.add_row(v["version"], date(v["mtime"]), "-" if deleted else size(v["size"]),
                      "-" if deleted else v["content_type"].split(";")[0], state_of(v),
                      v["node"])
    console = out()
    console.print(table)
    if console.is_terminal:
        console.print(f"[dim]{count(len(doc['versions']), 'version')} kept (at most "
                      f"{doc['limit']}); "
                      f"`dwp restore {key} VERSION` brings one back[/dim]")


async def _history(key: str, gateway: str, network: str | None) -> dict[str, Any]:
    async with Gateway(gateway, network) as gw:
        return await gw.json("GET", object_path(key), params={"history": "true"})


def restore(
    key: Annotated[str, typer.Argument(help="The object: SITE/PATH.")],
    version: Annotated[str, typer.Argument(help="A version id, as `dwp history` lists it.")],
    gateway: GatewayOption = DEFAULT_GATEWAY,
    network: NetworkOption = None,
    as_json: JsonOption = False,
) -> None:
    """Make an older version of KEY current again (it works after a delete, too)."""
    reply = run(_restore(key, version, gateway, network))
    if as_json:
        print_json(reply)
    else:
        out().print(f"restored {key} to version {version}: {reply['hash'][:12]} "
                    f"({size(reply['size'])}, {reply['content_type']}), now current "
                    f"(shard {reply['shard']}, node {reply['node']})")


async def _restore(key: str, version: str, gateway: str, network: str | None) -> dict[str, Any]:
    """The gateway restores (``PUT ?restore=ID``): it reads the key as it is now, so the
    write supersedes whatever is current, a delete included."""
    path = object_path(key)
    async with Gateway(gateway, network, timeout=RESTORE_TIMEOUT) as gw:
        written = await gw.request("PUT", path, params={"restore": version}, write=True)
        report_live(key, written)
        return {**gw.parsed(written), "restored": version}


def gc(
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Only say what a round would remove.")] = False,
    gateway: GatewayOption = DEFAULT_GATEWAY,
    network: NetworkOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run one garbage collection round now: chunks no kept version names, and deleted
    keys whose history has aged out."""
    report = run(_gc(dry_run, gateway, network))
    if as_json:
        print_json(report)
        return
    verb = "Would remove" if dry_run else "Removed"
    reaped = "would reap" if dry_run else "reaped"
    out().print(f"{verb} {count(report['chunks'], 'chunk')} ({size(report['bytes'])}); "
                f"{reaped} {count(report['deleted_keys'], 'deleted key')}; "
                f"{size(report['waiting'])} of unnamed chunks wait for a later round")
    for reason in report["skipped"]:
        typer.echo(f"skipped: {reason}", err=True)  # one unwrapped line each, for scripts


async def _gc(dry_run: bool, gateway: str, network: str | None) -> dict[str, Any]:
    async with Gateway(gateway, network, timeout=GC_TIMEOUT) as gw:
        return await gw.json("POST", "/api/v1/gc", write=True,
                             params={"dry_run": "true" if dry_run else "false"})
