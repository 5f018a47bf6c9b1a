"""``dwp site deploys|promote|rollback|rm``: a site's deploys, and the calls ``dwp publish``
makes to deploy what it uploaded (docs/architecture.md, "Deploys").

Every switch is sent with the context of a read of the site's deploys, so it replaces
exactly the live deploy that read showed: a switch someone made meanwhile stays beside
it as a conflict, named until one deploy is promoted.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

import httpx
import typer
from rich.table import Table

from browser_cli.http import CONTEXT, EXIT_USAGE, LIVE, CliError, Gateway, author, run
from browser_cli.options import (
    DEFAULT_GATEWAY,
    PLAIN_HELP,
    GatewayOption,
    JsonOption,
    NetworkOption,
)
from browser_cli.terminal import count, date, err, out, print_json, size
from dwp.core.labels import site_name_problem

site_app = typer.Typer(help="A site as a whole: its deploys, which one is live, removal.",
                       no_args_is_help=True, rich_markup_mode=PLAIN_HELP)

SiteArgument = Annotated[str, typer.Argument(metavar="SITE", help="The site's name.")]


def sites_path(site: str, tail: str) -> str:
    problem = site_name_problem(site) if site and "/" not in site else (
        "a site name is one non-empty key segment, without '/'")
    if problem:
        raise CliError(problem, EXIT_USAGE)
    return f"/api/v1/sites/{quote(site, safe='')}/{tail}".rstrip("/")


async def deploys_of(gw: Gateway, site: str) -> tuple[dict[str, Any] | None, str | None]:
    """The site's deploys (None: it has none) and the context a switch replacing the
    live one they name is sent with."""
    response = await gw.request("GET", sites_path(site, "deploys"), accept=(404,),
                                keep_context=False)
    if response.status_code == 404:
        return None, None
    return gw.parsed(response), response.headers.get(CONTEXT)


async def make_deploy(gw: Gateway, site: str, files: dict[str, str] | None, preview: bool,
                      live_context: str | None) -> dict[str, Any] | None:
    """Deploy the site's keys, which must hold ``files`` (path: hash) as uploaded (None:
    as they stand); None when the site has no keys left to deploy."""
    response = await gw.request("POST", sites_path(site, "deploys"), write=True,
                                accept=(404,),
                                json={"files": files, "preview": preview, "author": author(),
                                      "live_context": live_context})
    if response.status_code == 404:
        return None
    made: dict[str, Any] = gw.parsed(response)
    return made


def report_live(key: str, response: httpx.Response) -> None:
    """Say which deploy an edit of a site made live, or that a conflict kept it out."""
    live = response.headers.get(LIVE, "").split()
    site = key.split("/", 1)[0]
    if len(live) == 1:
        err.print(f"site '{site}': deploy {live[0]} is live")
    elif live:
        err.print(conflict_line(site, live) + "; this edit is in the site's keys, not "
                  f"live until `dwp site deploy {site}`")


def conflict_line(site: str, live: list[str]) -> str:
    return (f"conflict: site '{site}' has {len(live)} live deploys ({', '.join(live)}), "
            f"made at once; `dwp site promote {site} {live[0]}` keeps the one served now")


async def _switch(gateway: str, network: str | None, site: str, deploy: str | None
                  ) -> tuple[str, dict[str, Any]]:
    """Make ``deploy`` live (None: the newest one older than the live one)."""
    async with Gateway(gateway, network) as gw:
        listed, context = await deploys_of(gw, site)
        if listed is None:
            raise CliError(f"site '{site}' has no deploys: `dwp publish DIR --site {site}` "
                           "makes one")
        chosen = deploy or before_live(site, listed)
        reply = await gw.json("PUT", sites_path(site, "live"), write=True,
                              json={"deploy": chosen}, context=context)
        return chosen, reply


def before_live(site: str, listed: dict[str, Any]) -> str:
    """The deploy made just before the live one: what a rollback goes back to."""
    live = listed["live"]
    if len(live) > 1:
        raise CliError(conflict_line(site, live) + ", or name a deploy to roll back to",
                       EXIT_USAGE)
    kept = listed["deploys"]  # newest first
    at = next((i for i, d in enumerate(kept) if d["live"]), None)
    if at is None:
        raise CliError(f"site '{site}' has no live deploy to roll back from: "
                       f"`dwp site promote {site} DEPLOY` makes one live", EXIT_USAGE)
    if at + 1 == len(kept):
        raise CliError(f"site '{site}' keeps no deploy older than the live one "
                       f"({live[0]}): nothing to roll back to", EXIT_USAGE)
    return str(kept[at + 1]["id"])


def switched(site: str, deploy: str, reply: dict[str, Any]) -> None:
    live = reply["live"]
    if len(live) > 1:
        err.print(conflict_line(site, live))
    out().print(f"Deploy {deploy} of site '{site}' is live at {reply['url']}")


def deployed(site: str, made: dict[str, Any]) -> None:
    """The deploy's lines: live, or where its preview is; a conflict on stderr."""
    console = out()
    if made["live"]:
        console.print(f"Deploy {made['id']} is live" if made["new"] else
                      f"Deploy {made['id']} stays live: the site is as it has it")
    else:
        where = f" at {made['preview']}" if made["preview"] else ""
        console.print(f"Preview of deploy {made['id']}{where}; "
                      f"`dwp site promote {site} {made['id']}` makes it live")
    if made["conflict"]:
        err.print(conflict_line(site, made["conflict"]))


@site_app.command("deploy")
def deploy_keys(site: SiteArgument,
                preview: Annotated[bool, typer.Option(
                    "--preview", help="Make the deploy without making it live.")] = False,
                gateway: GatewayOption = DEFAULT_GATEWAY, network: NetworkOption = None,
                as_json: JsonOption = False) -> None:
    """Deploy the site's keys as they stand: what `dwp put` and the web UI changed in a
    deployed site goes live (or to a preview) in one step, as a publish does."""
    async def work() -> dict[str, Any] | None:
        async with Gateway(gateway, network) as gw:
            _, context = await deploys_of(gw, site)
            return await make_deploy(gw, site, None, preview, context)
    made = run(work())
    if made is None:
        raise CliError(f"site '{site}' has no files to deploy")
    if as_json:
        print_json(made)
        return
    deployed(site, made)


@site_app.command()
def deploys(site: SiteArgument, gateway: GatewayOption = DEFAULT_GATEWAY,
            network: NetworkOption = None, as_json: JsonOption = False) -> None:
    """List the site's kept deploys, newest first, and which one is live."""
    async def work() -> dict[str, Any] | None:
        async with Gateway(gateway, network) as gw:
            return (await deploys_of(gw, site))[0]
    listed = run(work())
    if listed is None:
        err.print(f"dwp: site '{site}' has no deploys: `dwp publish DIR --site {site}` "
                  "makes one")
        raise typer.Exit(1)
    if as_json:
        print_json(listed)
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for name in ("DEPLOY", "TIME", "WHO", "FILES", "BYTES", "LIVE"):
        table.add_column(name, no_wrap=True,
                         justify="right" if name in ("FILES", "BYTES") else "left")
    for d in listed["deploys"]:
        table.add_row(d["id"], date(d["created"]), d["author"] or "-", str(d["files"]),
                      size(d["bytes"]), "live" if d["live"] else "")
    out().print(table)
    if len(listed["live"]) > 1:
        err.print(conflict_line(site, listed["live"]))


@site_app.command()
def promote(site: SiteArgument,
            deploy: Annotated[str, typer.Argument(metavar="DEPLOY",
                                                  help="The deploy to make live.")],
            gateway: GatewayOption = DEFAULT_GATEWAY, network: NetworkOption = None) -> None:
    """Make a kept deploy live, in one step whatever the site's size; it also resolves a
    conflict between deploys made at once."""
    chosen, reply = run(_switch(gateway, network, site, deploy))
    switched(site, chosen, reply)


@site_app.command()
def rollback(site: SiteArgument,
             deploy: Annotated[str | None, typer.Argument(
                 metavar="[DEPLOY]", help="The deploy to go back to (default: the one "
                                          "made before the live one).")] = None,
             gateway: GatewayOption = DEFAULT_GATEWAY, network: NetworkOption = None) -> None:
    """Make an earlier deploy live again, in one step."""
    chosen, reply = run(_switch(gateway, network, site, deploy))
    switched(site, chosen, reply)


@site_app.command("rm")
def remove(site: SiteArgument, gateway: GatewayOption = DEFAULT_GATEWAY,
           network: NetworkOption = None) -> None:
    """Remove a site: its live deploy and every key (deletes, so `dwp history` and
    `dwp restore` still reach them); its deploys age out."""
    async def work() -> dict[str, Any]:
        async with Gateway(gateway, network) as gw:
            removed: dict[str, Any] = await gw.json("DELETE", sites_path(site, ""),
                                                    write=True)
            return removed
    removed = run(work())
    err.print(f"removed site '{site}': {count(removed['deleted'], 'key')} deleted")
