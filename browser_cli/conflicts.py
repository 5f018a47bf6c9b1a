"""``dwp conflicts`` lists keys written concurrently (siblings); ``dwp resolve`` writes
one version back with the context that saw them all, which ends the conflict."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from browser_cli.deploys import report_live
from browser_cli.http import CONTEXT, EXIT_USAGE, CliError, Gateway, object_path, run
from browser_cli.objects import PrefixOption, file_body, one_scope, scope_name
from browser_cli.options import DEFAULT_GATEWAY, GatewayOption, JsonOption, NetworkOption
from browser_cli.terminal import count, date, err, out, print_json, size

SIBLING_FIELDS = ("index", "size", "content_type", "hash", "mtime")


def conflicts(
    folder: Annotated[str, typer.Argument(
        metavar="FOLDER", help="Only this site or folder ('garden' is garden/).")] = "",
    prefix: PrefixOption = "",
    gateway: GatewayOption = DEFAULT_GATEWAY,
    network: NetworkOption = None,
    as_json: JsonOption = False,
) -> None:
    """List keys in conflict and their siblings (resolve with `dwp resolve`)."""
    one_scope(folder, prefix)
    found = run(_conflicts(folder, prefix, gateway, network))
    if as_json:
        print_json(found)
        return
    if not found:
        err.print("no conflicts" + (f" in {scope_name(folder, prefix)}"
                                    if folder or prefix else ""))
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for name in ("KEY", "#", "SIZE", "TYPE", "MODIFIED", "HASH"):
        table.add_column(name, no_wrap=True)
    for item in found:
        for s in item["siblings"]:
            table.add_row(item["key"] if s["index"] == 0 else "", str(s["index"]),
                          size(s["size"]), s["content_type"], date(s["mtime"]), s["hash"][:12])
    out().print(table)


async def _conflicts(folder: str, prefix: str, gateway: str, network: str | None
                     ) -> list[dict[str, Any]]:
    async with Gateway(gateway, network) as gw:
        keys = [e["key"] async for e in gw.listed(folder, prefix) if e["siblings"] > 1]
        found = []
        for key in keys:
            listing = await _siblings(gw, key)
            if len(listing["siblings"]) > 1:
                found.append({"key": key, "siblings": [
                    {f: s[f] for f in SIBLING_FIELDS} for s in listing["siblings"]]})
        return found


async def _siblings(gw: Gateway, key: str) -> dict[str, Any]:
    return await gw.json("GET", object_path(key), params={"siblings": "true"})


def resolve(
    key: Annotated[str, typer.Argument(help="The key in conflict.")],
    keep: Annotated[int | None, typer.Option(
        min=0, help="Keep sibling number N (as `dwp conflicts` numbers them).")] = None,
    file: Annotated[Path | None, typer.Option(
        exists=True, dir_okay=False, readable=True, help="Write this file instead.")] = None,
    gateway: GatewayOption = DEFAULT_GATEWAY,
    network: NetworkOption = None,
    as_json: JsonOption = False,
) -> None:
    """End a conflict by writing one version over every sibling."""
    if (keep is None) == (file is None):
        raise typer.BadParameter("give exactly one of --keep N or --file F")
    reply = run(_resolve(key, keep, file, gateway, network))
    if as_json:
        print_json(reply)
    else:
        out().print(f"resolved {key}: {reply['hash'][:12]} ({size(reply['size'])}, "
                    f"{reply['content_type']})")


async def _resolve(key: str, keep: int | None, file: Path | None,
                   gateway: str, network: str | None) -> dict[str, Any]:
    """Write FILE, or have the gateway keep sibling #N (``PUT ?keep=HASH``), with the
    context of the read that listed the siblings: the write replaces all it saw."""
    async with Gateway(gateway, network) as gw:
        response = await gw.request("GET", object_path(key), params={"siblings": "true"})
        siblings = gw.parsed(response)["siblings"]
        context = response.headers[CONTEXT]
        if file is not None:
            written = await gw.request("PUT", object_path(key), content=file_body(file),
                                       write=True, context=context)
        else:
            assert keep is not None
            if keep >= len(siblings):
                raise CliError(f"{key} has {count(len(siblings), 'sibling')}, numbered "
                               f"from 0; there is no #{keep}", EXIT_USAGE)
            written = await gw.request("PUT", object_path(key), write=True, context=context,
                                       params={"keep": siblings[keep]["hash"]})
        report_live(key, written)
        reply: dict[str, Any] = gw.parsed(written)
        return reply
