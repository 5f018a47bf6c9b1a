"""``dwp view`` (a page as text in the terminal, links numbered) and ``dwp open`` (the page
in the system web browser, or the web UI signed in)."""

from __future__ import annotations

import asyncio
import sys
import webbrowser
from dataclasses import dataclass, field
from typing import Annotated
from urllib.parse import quote, unquote, urljoin, urlsplit

import httpx
import typer
from rich.console import Console, RenderableType
from rich.markdown import Markdown
from rich.rule import Rule
from rich.text import Text

from browser_cli.http import EXIT_FAILED, CliError, Gateway, object_path, run
from browser_cli.options import DEFAULT_GATEWAY, GatewayOption, NetworkOption
from browser_cli.terminal import err, size
from browser_cli.viewer import Link, render_html

MAX_PAGE = 8 << 20  # larger text is not rendered; `dwp get` fetches it
HTML = ("text/html", "application/xhtml+xml")


@dataclass
class Shown:
    """A fetched page, ready to print."""

    key: str
    title: str
    body: RenderableType
    links: list[Link] = field(default_factory=list)


def candidates(target: str) -> list[str]:
    """Keys to try for SITE[/PATH]: a folder-ish path means its ``index.html``."""
    target = target.strip()
    if "/" not in target.rstrip("/") or target.endswith("/"):
        return [target.rstrip("/") + "/index.html"]
    return [target, target + "/index.html"]


NAVIGATE = {"Sec-Fetch-Mode": "navigate"}  # the header a browser's navigation sends


def page_url(gateway: str, key: str) -> str:
    return f"{gateway}/sites/{quote(key, safe='/')}"


async def site_url(gw: Gateway, key: str) -> str:
    """Where a person opens ``key``: its site's own origin when the gateway redirects a
    browser there (it decides: ``{site}.localhost`` or ``--site-domain``), else the path
    URL. The CLI asks as a browser would, since a person's browser opens the URL."""
    site, _, path = key.partition("/")
    where = f"/sites/{quote(site, safe='')}/{quote(path, safe='/')}"
    response = await gw.request("HEAD", where, accept=(404,), keep_context=False,
                                headers=NAVIGATE)
    location = response.headers.get("location", "")
    if response.status_code == 301 and location.startswith(("http://", "https://")):
        return location
    return gw.url + where


def link_target(gateway: str, key: str, href: str) -> tuple[str | None, str]:
    """Where a link on page ``key`` leads: (a key or a folder on this gateway, or None;
    the URL). A site is served at the root of its own origin, so ``/x`` is the site's
    ``x``."""
    if href.startswith("/") and not href.startswith("//"):
        href = page_url(gateway, key.partition("/")[0] + href)
    url = urljoin(page_url(gateway, key), href)
    parts, base = urlsplit(url), urlsplit(gateway)
    if (parts.scheme, parts.netloc) == (base.scheme, base.netloc):
        for prefix in (f"{base.path}/sites/", f"{base.path}/api/v1/objects/"):
            if parts.path.startswith(prefix):
                return unquote(parts.path[len(prefix):]), url
    return None, url


async def fetch(gw: Gateway, target: str) -> Shown:
    """The first of ``candidates(target)`` that exists, rendered for the terminal; else,
    for a folder without an ``index.html``, the listing its site shows."""
    tried = candidates(target)
    for key in tried:
        try:
            return await _fetch(gw, key)
        except CliError as exc:
            if exc.status != 404:
                raise
            missing = exc
    folder = target.strip().rstrip("/") + "/"
    response = await on_site(gw, "GET", await site_url(gw, folder))
    if response.status_code != 200 or not _is_html(response):
        raise missing
    page = render_html(response.text)
    return Shown(folder, page.title or folder, page.text, page.links)


async def on_site(gw: Gateway, method: str, url: str) -> httpx.Response:
    """``url`` (as ``site_url`` gives it) requested through the gateway: a site's own
    origin is reached at the gateway's address with the origin's name as Host, so it
    needs no DNS for ``{site}.localhost``. Any answer is returned, a 404 included."""
    parts, base = urlsplit(url), urlsplit(gw.url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    headers = {} if parts.netloc == base.netloc else {"Host": parts.netloc}
    return await gw.request(method, path, headers=headers, accept=(404,),
                            keep_context=False)


def _is_html(response: httpx.Response) -> bool:
    return response.headers.get("content-type", "").split(";")[0].strip() in HTML


async def _fetch(gw: Gateway, key: str) -> Shown:
    async with gw.stream("GET", object_path(key)) as response:
        mime, _, params = response.headers.get("content-type", "").partition(";")
        mime = mime.strip().lower()
        length = int(response.headers.get("content-length", 0))
        textual = mime.startswith("text/") or mime in (*HTML, "application/json")
        if not textual or length > MAX_PAGE:
            return Shown(key, key, Text(
                f"{key} is {mime or 'untyped'} ({size(length)}): `dwp get {key} -o FILE` "
                f"saves it, `dwp open {key}` shows it in a web browser.", style="dim"))
        charset = params.partition("charset=")[2].strip().strip('"') or "utf-8"
        raw = await response.aread()
    try:
        content = raw.decode(charset, errors="replace")
    except LookupError:
        content = raw.decode("utf-8", errors="replace")
    if mime in HTML:
        page = render_html(content)
        return Shown(key, page.title or key, page.text, page.links)
    if mime == "text/markdown":
        return Shown(key, key, Markdown(content))
    return Shown(key, key, Text(content))


def show(console: Console, gw: Gateway, shown: Shown) -> None:
    console.print(Rule(f"[bold]{shown.title}[/bold]  [dim]{shown.key}[/dim]"))
    console.print(shown.body)
    if shown.links:
        console.print()
        console.print("Links:", style="bold")
        for link in shown.links:
            found, url = link_target(gw.url, shown.key, link.href)
            console.print(f"[bold blue][{link.number}][/bold blue] {found or url}"
                          + (f"  [dim]{link.text}[/dim]" if link.text else ""))


def view(
    target: Annotated[str, typer.Argument(
        metavar="SITE/PATH", help="The page; a folder shows its index.html, else its listing.")],
    plain: Annotated[bool, typer.Option(
        "--plain", help="Print the page once, without prompting (the default when piped).")
                     ] = False,
    gateway: GatewayOption = DEFAULT_GATEWAY,
    network: NetworkOption = None,
) -> None:
    """Read a page in the terminal; follow its numbered links or go back."""
    interactive = not plain and sys.stdin.isatty() and sys.stdout.isatty()
    run(_view(target, gateway, network, interactive))


async def _view(target: str, gateway: str, network: str | None, interactive: bool) -> None:
    console = Console(highlight=False)
    async with Gateway(gateway, network) as gw:
        history = [await fetch(gw, target)]
        while True:
            show(console, gw, history[-1])
            if not interactive:
                return
            while True:
                choice = await _ask(console)
                if choice in ("q", "quit"):
                    return
                moved = await _step(console, gw, history, choice)
                if moved:
                    break


async def _ask(console: Console) -> str:
    prompt = "[bold]link number, b back, o open in browser, q quit[/bold] > "
    try:
        answer = await asyncio.to_thread(console.input, prompt)
    except (EOFError, KeyboardInterrupt):
        return "q"
    return answer.strip().lower() or "q"


async def _step(console: Console, gw: Gateway, history: list[Shown], choice: str) -> bool:
    """Act on one answer; True when there is a new page to show."""
    current = history[-1]
    if choice in ("b", "back"):
        if len(history) == 1:
            err.print("this is the first page")
            return False
        history.pop()
        return True
    if choice in ("o", "open"):
        _browse(await site_url(gw, current.key))
        return False
    if not choice.isdigit() or not 1 <= int(choice) <= len(current.links):
        err.print(f"choose a link from 1 to {len(current.links)}, b, o or q")
        return False
    found, url = link_target(gw.url, current.key, current.links[int(choice) - 1].href)
    if found is None:
        _browse(url)
        return False
    try:
        history.append(await fetch(gw, found))
    except CliError as exc:
        err.print(f"dwp: {exc.message}")
        return False
    return True


def _browse(url: str) -> bool:
    """Open ``url`` in the system web browser, saying on stderr whether that worked."""
    opened = webbrowser.open(url)
    err.print(f"opened {url}" if opened else f"dwp: no web browser found here; the page is "
              f"at {url}")
    return opened


async def _existing_url(gateway: str, network: str | None, target: str) -> str:
    """Where ``target`` opens, once its site has said there is a page there (any answer
    but 404: a folder's listing, a redirect and a ``_redirects`` rule count)."""
    async with Gateway(gateway, network) as gw:
        url = await site_url(gw, target)
        if (await on_site(gw, "HEAD", url)).status_code == 404:
            site = target.partition("/")[0]
            raise CliError(f"not found: site {site!r} has no page {target!r} ({url} answers "
                           "404)", status=404)
        return url


async def _sign_in_url(gateway: str, network: str | None) -> str:
    """A one-time link that opens the UI signed in to the network, asked for with its
    token; the plain UI (which offers to sign in) when this machine has no token for it."""
    async with Gateway(gateway, network) as gw:
        if not gw.token:
            err.print(f"not signed in: no network token for {gw.url} (set DWP_TOKEN, or run "
                      "`dwp up` on this machine); the UI asks for it to write")
            return gw.url + "/"
        made = await gw.json("POST", "/api/v1/sign-in", write=True, keep_context=False)
        return str(made["url"])


def open_page(
    target: Annotated[str | None, typer.Argument(
        metavar="[SITE[/PATH]]",
        help="The page to open; without one, the web UI, signed in with a one-time link.")
    ] = None,
    gateway: GatewayOption = DEFAULT_GATEWAY,
    network: NetworkOption = None,
) -> None:
    """Open a page, or the web UI signed in, in the system web browser."""
    if target is None:
        url = run(_sign_in_url(gateway, network))
        print(url)
        if not _browse(url):
            raise typer.Exit(EXIT_FAILED)
        return
    if not target.strip().partition("/")[0]:
        raise typer.BadParameter("give a site, optionally followed by /PATH",
                                 param_hint="SITE[/PATH]")
    url = run(_existing_url(gateway, network, target.strip()))
    print(url)
    if not _browse(url):
        raise typer.Exit(EXIT_FAILED)
