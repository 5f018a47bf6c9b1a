"""``dwp history`` lists the versions a key keeps, ``dwp restore`` writes one back (a
normal write with the key's current context, so it supersedes what is current), and
``dwp gc`` runs a garbage collection round or says what one would remove."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

import typer
from rich.table import Table

from browser_cli.deploys import report_live
from browser_cli.http import CONTEXT, EXIT_USAGE, CliError, Gateway, object_path, run
from browser_cli.options import DEFAULT_GATEWAY, GatewayOption, JsonOption, NetworkOption
from browser_cli.terminal import LARGE, count, date, out, print_json, size, transfer_progress
from dwp.core.history import parse_version_id

GC_TIMEOUT = 900.0  # a round visits every node; on a large network it takes a while


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
    path = object_path(key)
    if parse_version_id(version) is None:
        raise CliError(f"{version!r} is not a version id (`dwp history {key}` lists them)",
                       EXIT_USAGE)
    async with Gateway(gateway, network) as gw:
        response = await gw.request("GET", path, params={"history": "true"})
        listed = gw.parsed(response)["versions"]
        context = response.headers[CONTEXT]  # the key as it is now: the write supersedes it
        entry = next((v for v in listed if v["version"] == version), None)
        if entry is None:
            raise CliError(f"not found: {key} keeps no version {version} (any more); "
                           f"`dwp history {key}` lists the versions it keeps")
        if entry["deleted"]:
            raise CliError(f"version {version} of {key} is a delete; restore a version "
                           "before it")

        total = entry["size"]
        with transfer_progress() as progress:
            task = progress.add_task(key, total=total, visible=total >= LARGE)

            def old() -> AsyncIterator[bytes]:
                return _version_bytes(gw, path, version, context,
                                      lambda n: progress.advance(task, n))

            written = await gw.request("PUT", path, content=old, write=True,
                                       context=context,
                                       headers={"Content-Type": entry["content_type"]})
        report_live(key, written)
        return {**gw.parsed(written), "restored": version}


async def _version_bytes(gw: Gateway, path: str, version: str, context: str,
                         advance: Callable[[int], None]) -> AsyncIterator[bytes]:
    """The old version's bytes, streamed from the gateway into the write (a write that
    is retried reads them again)."""
    async with gw.stream("GET", path, params={"version": version}, context=context,
                         keep_context=False) as response:
        async for piece in response.aiter_bytes():
            advance(len(piece))
            yield piece


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
