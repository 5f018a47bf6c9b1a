"""``dwp put|get|rm|ls|search``: one object at a time, or the listing."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Annotated, Any, BinaryIO

import httpx
import typer
from rich.table import Table

from browser_cli.deploys import report_live
from browser_cli.http import CliError, Gateway, object_path, run
from browser_cli.options import DEFAULT_GATEWAY, GatewayOption, JsonOption, NetworkOption
from browser_cli.terminal import (
    LARGE,
    count,
    date,
    err,
    out,
    print_json,
    size,
    transfer_progress,
)
from dwp.core.keys import folder_prefix
from dwp.core.version import new_hasher

CHUNK = 256 * 1024
ENTRY_FIELDS = ("key", "size", "content_type", "hash", "mtime", "siblings")


def file_body(path: Path, advance: Callable[[int], None] | None = None
              ) -> Callable[[], AsyncIterator[bytes]]:
    """A replayable upload body that streams ``path`` and reports bytes as they go."""
    async def chunks() -> AsyncIterator[bytes]:
        with path.open("rb") as f:
            while piece := f.read(CHUNK):
                if advance:
                    advance(len(piece))
                yield piece
    return chunks


def entry_json(entry: dict[str, Any]) -> dict[str, Any]:
    """The documented shape of one listing entry (docs/cli.md)."""
    return {field: entry[field] for field in ENTRY_FIELDS}


def print_entries(entries: list[dict[str, Any]], as_json: bool, empty: str) -> None:
    if as_json:
        print_json([entry_json(e) for e in entries])
        return
    if not entries:
        err.print(empty)
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for name, justify in (("SIZE", "right"), ("TYPE", "left"), ("MODIFIED", "left"),
                          ("KEY", "left")):
        table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for e in entries:
        key = e["key"] + (f"  [red]({e['siblings']} siblings)[/red]"
                          if e["siblings"] > 1 else "")
        table.add_row(size(e["size"]), e["content_type"].split(";")[0], date(e["mtime"]), key)
    console = out()
    console.print(table)
    if console.is_terminal:
        total = sum(e["size"] for e in entries)
        console.print(f"[dim]{count(len(entries), 'object')}, {size(total)}[/dim]")


def put(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True,
                                         help="The file to upload.")],
    key: Annotated[str, typer.Argument(help="Where to store it: SITE/PATH.")],
    content_type: Annotated[str | None, typer.Option(
        help="Content-Type to store (default: guessed from the key).")] = None,
    gateway: GatewayOption = DEFAULT_GATEWAY,
    network: NetworkOption = None,
    as_json: JsonOption = False,
) -> None:
    """Upload one file under KEY."""
    run(_put(file, key, content_type, gateway, network, as_json))


async def _put(file: Path, key: str, content_type: str | None, gateway: str, network: str | None,
               as_json: bool) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    total = file.stat().st_size
    with transfer_progress() as progress:
        task = progress.add_task(key, total=total, visible=total >= LARGE)
        async with Gateway(gateway, network) as gw:
            body = file_body(file, lambda n: progress.advance(task, n))
            response = await gw.request("PUT", object_path(key), content=body,
                                        headers=headers, write=True)
            reply = gw.parsed(response)
    report_live(key, response)
    if as_json:
        print_json(reply)
    else:
        out().print(f"put {reply['key']}  {size(reply['size'])}  {reply['content_type']}  "
                    f"(shard {reply['shard']}, node {reply['node']})")


def get(
    key: Annotated[str, typer.Argument(help="The object to fetch: SITE/PATH.")],
    output: Annotated[Path | None, typer.Option(
        "-o", "--output", help="Write here (a file, or a folder to keep the key's name) "
                               "instead of standard output.")] = None,
    gateway: GatewayOption = DEFAULT_GATEWAY,
    network: NetworkOption = None,
) -> None:
    """Fetch an object's bytes, streamed and checked against its content hash."""
    run(_get(key, output, gateway, network))


async def _get(key: str, output: Path | None, gateway: str, network: str | None) -> None:
    async with Gateway(gateway, network) as gw, gw.stream("GET", object_path(key)) as response:
        siblings = response.headers.get("x-dwp-siblings")
        if siblings:
            err.print(f"[yellow]{key} has {siblings} siblings; this is the winner "
                      "(see `dwp conflicts` and `dwp resolve`)[/yellow]")
        expected = response.headers.get("etag", "").strip('"')
        total = int(response.headers.get("content-length", 0))
        if output is None or str(output) == "-":
            await _receive(response.aiter_bytes(), sys.stdout.buffer, expected, total, key)
            sys.stdout.flush()
            return
        target = output / key.rsplit("/", 1)[-1] if output.is_dir() else output
        partial = target.with_name(f".{target.name}.dwp-partial")
        try:
            with partial.open("wb") as f:
                await _receive(response.aiter_bytes(), f, expected, total, key)
            os.replace(partial, target)
        except OSError as exc:
            raise CliError(f"cannot write {target}: {exc.strerror or exc}") from exc
        finally:
            partial.unlink(missing_ok=True)
    err.print(f"{key} -> {target} ({size(total)})")


async def _receive(chunks: AsyncIterator[bytes], sink: BinaryIO, expected: str, total: int,
                   key: str) -> None:
    """Copy the body to ``sink``, with a bar for large ones, and check its content hash."""
    hasher = new_hasher()
    with transfer_progress() as progress:
        task = progress.add_task(key, total=total, visible=total >= LARGE)
        async for piece in chunks:
            hasher.update(piece)
            sink.write(piece)
            progress.advance(task, len(piece))
    if expected and hasher.hexdigest() != expected:
        raise CliError(f"the bytes received for {key} do not match its content hash")


def rm(
    key: Annotated[str, typer.Argument(help="The object to delete: SITE/PATH.")],
    gateway: GatewayOption = DEFAULT_GATEWAY,
    network: NetworkOption = None,
) -> None:
    """Delete one object."""
    async def work() -> httpx.Response:
        async with Gateway(gateway, network) as gw:
            return await gw.request("DELETE", object_path(key), write=True)
    response = run(work())
    err.print(f"removed {key}")
    report_live(key, response)


PrefixOption = Annotated[str, typer.Option(
    "--prefix", metavar="TEXT", help="Instead of a folder: every key starting with TEXT, "
                                     "as a string ('gard' covers garden/ and garden2/).")]


def ls(
    folder: Annotated[str, typer.Argument(
        metavar="FOLDER", help="A site or a folder in one ('garden' is garden/, never "
                                 "garden2/); a key lists that key.")] = "",
    prefix: PrefixOption = "",
    gateway: GatewayOption = DEFAULT_GATEWAY,
    network: NetworkOption = None,
    as_json: JsonOption = False,
) -> None:
    """List objects with their sizes, types and dates."""
    one_scope(folder, prefix)
    entries = run(_collect(gateway, network, folder, prefix, lambda _: True))
    print_entries(entries, as_json, f"no objects in {scope_name(folder, prefix)}"
                  if folder or prefix else "no objects")


def search(
    text: Annotated[str, typer.Argument(help="Text to look for in keys (any case).")],
    folder: Annotated[str, typer.Option(
        "--in", metavar="FOLDER", help="Only search this site or folder.")] = "",
    prefix: PrefixOption = "",
    gateway: GatewayOption = DEFAULT_GATEWAY,
    network: NetworkOption = None,
    as_json: JsonOption = False,
) -> None:
    """Find objects whose key contains TEXT."""
    one_scope(folder, prefix)
    needle = text.casefold()
    entries = run(_collect(gateway, network, folder, prefix,
                           lambda e: needle in e["key"].casefold()))
    print_entries(entries, as_json, f"no keys contain {text!r}"
                  + (f" in {scope_name(folder, prefix)}" if folder or prefix else ""))


def one_scope(folder: str, prefix: str) -> None:
    """A listing is of a folder or of a string prefix, not both."""
    if folder and prefix:
        raise typer.BadParameter("give a folder or --prefix, not both", param_hint="--prefix")


def scope_name(folder: str, prefix: str) -> str:
    return f"keys starting with {prefix!r}" if prefix else f"folder {folder_prefix(folder)!r}"


async def _collect(gateway: str, network: str | None, folder: str, prefix: str,
                   keep: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
    async with Gateway(gateway, network) as gw:
        return [e async for e in gw.listed(folder, prefix) if keep(e)]
