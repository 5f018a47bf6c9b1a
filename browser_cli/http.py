"""The one way the CLI talks to a gateway: requests carry the network and context tokens,
and every failure becomes a CliError, printed as one line with its exit code by ``run``."""

from __future__ import annotations

import asyncio
import functools
import getpass
import socket
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import typer

from browser_cli.config import context_for, record_context, token_for
from dwp.core.keys import InvalidKey, folder_prefix, validate_key

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
CONTEXT = "X-DWP-Context"
GATEWAY = "X-DWP-Gateway"  # on every answer of a dwp gateway (gateway/identity.py)
NETWORK = "X-DWP-Network"  # which of the gateway's networks (gateway/context.py)
AUTHOR = "X-DWP-Author"  # who writes: the deploy an edit of a site makes names it
LIVE = "X-DWP-Live"  # a site write's answer: the site's live deploys after it
RETRIES = 3  # a 503 (replica behind or unavailable) is retried, honouring Retry-After
MAX_RETRY_WAIT = 5.0
T = TypeVar("T")
Content = bytes | AsyncIterator[bytes] | None
Body = Content | Callable[[], Content]  # a callable is called again for each attempt


@functools.cache
def author() -> str:
    """Who writes, as ``dwp site deploys`` shows it: this machine's user and host."""
    try:
        return f"{getpass.getuser()}@{socket.gethostname()}"
    except (OSError, KeyError):
        return ""


class CliError(Exception):
    """A failure to report as one line on stderr; ``code`` is the process's exit code."""

    def __init__(self, message: str, code: int = EXIT_FAILED, status: int | None = None) -> None:
        super().__init__(message)
        self.message, self.code, self.status = message, code, status


def object_path(key: str) -> str:
    """The object API path of ``key``, each segment percent-encoded (keys may be unicode).

    The key is checked by the gateway's own rules first: an HTTP client resolves ``.`` and
    ``..`` segments in a URL path, so ``a/../b`` would silently become ``b``. Refusing them
    here is what makes every key reach the gateway verbatim.
    """
    try:
        validate_key(key)
    except InvalidKey as exc:
        raise CliError(f"invalid key {key!r}: {exc}", EXIT_USAGE) from exc
    return "/api/v1/objects/" + quote(key, safe="/")


def run(work: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine; a CliError becomes one stderr line and its exit code."""
    try:
        return asyncio.run(work)
    except CliError as exc:
        typer.echo(f"dwp: {exc.message}", err=True)
        raise typer.Exit(exc.code) from None


def _retry_after(response: httpx.Response) -> float:
    try:
        return min(MAX_RETRY_WAIT, max(0.1, float(response.headers.get("retry-after", "1"))))
    except ValueError:
        return 1.0


class Gateway:
    """An HTTP client for one gateway that keeps the user's context token across commands.

    Responses' ``X-DWP-Context`` replaces the kept token (unless ``keep_context=False``),
    and the token is saved in the config dir when the client closes.
    """

    def __init__(self, url: str, network: str | None = None, timeout: float = 60.0) -> None:
        self.url = gateway_url(url)
        self.network = network or None
        self.token = token_for(self.url, self.network)
        self.context = context_for(self.url, self.network)
        self._saved = self.context
        self._http = httpx.AsyncClient(base_url=self.url, timeout=timeout)

    async def __aenter__(self) -> Gateway:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self._http.aclose()
        if self.context != self._saved:
            record_context(self.url, self.context, self.network)

    def _headers(self, write: bool, context: str | None,
                 extra: dict[str, str] | None) -> dict[str, str]:
        headers = dict(extra or {})
        if self.network:
            headers[NETWORK] = self.network
        if context:
            headers[CONTEXT] = context
        if write and self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if write:
            headers[AUTHOR] = author().encode("ascii", "replace").decode("ascii")
        return headers

    @asynccontextmanager
    async def stream(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                     content: Body = None, json: Any = None,
                     headers: dict[str, str] | None = None, write: bool = False,
                     context: str | None = None, keep_context: bool = True,
                     accept: tuple[int, ...] = ()) -> AsyncIterator[httpx.Response]:
        """A response whose body is not read yet; statuses >= 400 not in ``accept`` raise.

        ``context`` overrides the kept context token for this one request; ``json`` is a
        body sent as JSON instead of ``content``.
        """
        sent = context or self.context
        replayable = content is None or isinstance(content, bytes) or callable(content)
        attempt = 0
        while True:
            body = content() if callable(content) else content
            try:
                request = self._http.build_request(method, path, params=params, content=body,
                                                   json=json,
                                                   headers=self._headers(write, sent, headers))
                response = await self._http.send(request, stream=True)
            except httpx.TransportError as exc:
                raise self._transport_error(exc) from exc
            try:
                status = response.status_code
                if status >= 400:
                    await response.aread()
                if not _from_dwp(response):
                    raise self._not_dwp(response)
                if status >= 400 and status not in accept:
                    if status == 503 and replayable and attempt < RETRIES:
                        attempt += 1
                        await asyncio.sleep(_retry_after(response))
                        continue
                    if (status == 400 and sent and context is None and replayable
                            and _error_name(response) == "invalid context token"):
                        # The saved token is from another network (the gateway was
                        # restarted on a new data dir): forget it and ask again.
                        self.context = sent = None
                        continue
                    raise self._status_error(response)
                if keep_context and CONTEXT in response.headers:
                    self.context = response.headers[CONTEXT]
                yield response
                return
            except httpx.TransportError as exc:
                raise self._transport_error(exc) from exc
            finally:
                await response.aclose()

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Like ``stream`` with the body read."""
        async with self.stream(method, path, **kwargs) as response:
            await response.aread()
            return response

    async def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """Like ``request``, answering the body as JSON: an answer that is not JSON is a
        gateway that is not dwp's API (a proxy's page, say), so it is one line too."""
        return self.parsed(await self.request(method, path, **kwargs))

    def parsed(self, response: httpx.Response) -> Any:
        """The body of a read response as JSON, or the one line ``json`` raises."""
        try:
            return response.json()
        except ValueError:
            raise self._not_api(response) from None

    async def objects(self, prefix: str = "", page: int = 1000) -> AsyncIterator[dict[str, Any]]:
        """Every listing entry under ``prefix`` in key order, following ``next_cursor``."""
        cursor = ""
        while True:
            listing = await self.json("GET", "/api/v1/objects", params={
                "prefix": prefix, "limit": page, "cursor": cursor})
            for entry in listing["objects"]:
                yield entry
            cursor = listing.get("next_cursor") or ""
            if not cursor:
                return

    async def listed(self, folder: str = "", prefix: str = "") -> AsyncIterator[dict[str, Any]]:
        """The entries a key argument ``folder`` names (the key of that name, then every
        key in the folder: ``garden`` is ``garden/``, never ``garden2/``), or, with
        ``prefix``, every key that starts with that text."""
        if prefix or not folder_prefix(folder):
            async for entry in self.objects(prefix):
                yield entry
            return
        if not folder.endswith("/"):
            name = folder.rstrip("/")
            first = await self.json("GET", "/api/v1/objects", params={"prefix": name,
                                                                      "limit": 1})
            if first["objects"] and first["objects"][0]["key"] == name:
                yield first["objects"][0]
        async for entry in self.objects(folder_prefix(folder)):
            yield entry

    def _transport_error(self, exc: httpx.TransportError) -> CliError:
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
            return CliError(f"cannot reach a gateway at {self.url}: is it running? "
                            "`dwp up` starts one (or set --gateway / DWP_GATEWAY)")
        return CliError(f"the gateway at {self.url} failed mid-request "
                        f"({type(exc).__name__}: {exc or 'no detail'})")

    def _not_dwp(self, response: httpx.Response) -> CliError:
        kind = response.headers.get("content-type", "no content type").split(";")[0]
        return CliError(f"{self.url} is not a dwp gateway (it answered {response.status_code} "
                        f"{response.reason_phrase}, {kind}): check --gateway or DWP_GATEWAY")

    def _not_api(self, response: httpx.Response) -> CliError:
        kind = response.headers.get("content-type", "no content type").split(";")[0]
        return CliError(f"{self.url} answered {response.request.url.path} with {kind}, not "
                        "dwp's JSON: check --gateway or DWP_GATEWAY")

    def _status_error(self, response: httpx.Response) -> CliError:
        status = response.status_code
        detail = _detail(response)
        if status == 401:
            if not self.token:
                return CliError(f"no network token for {self.url}: set DWP_TOKEN, or run "
                                "`dwp up` on this machine (it records the token)", status=401)
            return CliError(f"the gateway at {self.url} refused the network token "
                            f"(from DWP_TOKEN or the `dwp up` record): {detail}", status=401)
        if status == 404:
            return CliError(f"not found: {detail}", status=404)
        if status == 400:
            return CliError(f"rejected: {detail}", EXIT_USAGE, status=400)
        if status == 413:
            return CliError(f"too large: {detail}", status=413)
        return CliError(f"the gateway answered {status}: {detail}", status=status)


def gateway_url(url: str) -> str:
    """``url`` as the one base every request joins its path to; a value that cannot be
    one is a usage error that says why. A gateway answers at its root, so a path, query
    or fragment is refused: ``?network=club`` would be lost on every request, so it
    points at ``--network``."""
    bad = f"--gateway {url!r}"
    try:
        parts = urlsplit(url.strip())
        host, _ = parts.hostname, parts.port  # an out-of-range port raises
    except ValueError as exc:
        raise CliError(f"{bad} is not a URL: {exc}", EXIT_USAGE) from None
    if parts.scheme not in ("http", "https") or not host:
        raise CliError(f"{bad} is not an http:// or https:// URL of a gateway, such as "
                       "http://127.0.0.1:8000", EXIT_USAGE)
    extra = next((what for what, there in (("query", parts.query),
                                            ("fragment", parts.fragment),
                                            ("path", parts.path.strip("/"))) if there), None)
    if extra:
        named = parse_qs(parts.query).get("network")
        hint = (f"name the network with --network {named[0]}" if named
                else "give the gateway's address alone, such as http://127.0.0.1:8000")
        raise CliError(f"{bad} has a {extra}: {hint}", EXIT_USAGE)
    try:
        httpx.URL(url.strip())
    except httpx.InvalidURL as exc:
        raise CliError(f"{bad} is not a valid URL: {exc}", EXIT_USAGE) from None
    return url.strip().rstrip("/")


def _from_dwp(response: httpx.Response) -> bool:
    """Whether a dwp gateway sent this. The gateway stamps ``X-DWP-Gateway`` on every
    answer, which is what tells its redirect to a site's origin (no body) from another
    server's; an answer without it (the server's own 500) still counts when an object's
    bytes say where they were served, an API answer is JSON, or an error is JSON naming
    the error (read errors first)."""
    if GATEWAY in response.headers:
        return True
    if response.status_code >= 400:
        try:
            return isinstance(response.json(), dict) and "error" in response.json()
        except ValueError:
            return False
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    return "x-dwp-node" in response.headers or kind == "application/json"


def _error_name(response: httpx.Response) -> str:
    try:
        return str(response.json().get("error", ""))
    except ValueError:
        return ""


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
        return str(body.get("detail") or body.get("error") or body)
    except (ValueError, AttributeError):
        return response.text.strip()[:200] or response.reason_phrase
