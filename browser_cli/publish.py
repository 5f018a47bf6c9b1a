"""``dwp publish DIR --site NAME``: mirror a folder into a site, uploading only what changed.

Planning is pure: a scan of the folder (keys, sizes, content hashes, problems) and the
site's listing go in, the uploads and deletes come out. Uploads then run several at a
time, all carrying the context token the user came with; afterwards one read per
coordinating replica folds the new writes into the saved token (a replica's counters
are a prefix, so its latest write covers its earlier ones).
"""

from __future__ import annotations

import asyncio
import os
import stat
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer

from browser_cli.compress import after_their_files, is_sibling_of, siblings_of
from browser_cli.deploys import deployed, deploys_of, make_deploy
from browser_cli.http import EXIT_FAILED, EXIT_USAGE, CliError, Gateway, object_path, run
from browser_cli.objects import file_body
from browser_cli.options import DEFAULT_GATEWAY, GatewayOption, JsonOption, NetworkOption
from browser_cli.pages import site_url
from browser_cli.terminal import err, out, print_json, size, transfer_progress
from dwp.core import headers, redirects
from dwp.core.keys import folder_prefix, in_folder
from dwp.core.labels import site_name_problem
from dwp.core.version import new_hasher

PER_FILE = (400, 413)  # statuses that fail one file; any other failure stops the publish
KEYS_ONLY = {"deploy": "false"}  # the uploads write keys; one deploy follows them


@dataclass(frozen=True)
class LocalFile:
    path: Path
    rel: str
    key: str
    size: int
    hash: str


@dataclass(frozen=True)
class Problem:
    rel: str
    reason: str
    failed: bool  # False for what is skipped on purpose (symlinks, special files)


@dataclass
class Scan:
    files: list[LocalFile] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # key prefixes --delete must not touch


@dataclass(frozen=True)
class Plan:
    upload: list[LocalFile]
    unchanged: list[LocalFile]
    delete: list[str]


@dataclass(frozen=True)
class Written:
    """One acknowledged write, in the order the writes were sent."""

    key: str
    shard: str
    node: str
    sent: int  # how many writes had been acknowledged when this one was sent
    done: int  # its position among the acknowledgements


def hash_file(path: Path) -> str:
    hasher = new_hasher()
    with path.open("rb") as f:
        while piece := f.read(1 << 20):
            hasher.update(piece)
    return hasher.hexdigest()


SYMLINK_SKIPPED = "a symlink (--follow-symlinks follows links that stay in the folder)"
SPECIAL_SKIPPED = "not a regular file"


def scan(root: Path, site: str, follow_symlinks: bool = False) -> Scan:
    """Every regular file under ``root`` with its key and hash; the rest as problems.
    ``follow_symlinks``: a link to a file or folder inside ``root`` is published under
    the link's own path; a link leading outside ``root`` fails, never read."""
    result = Scan()
    top = root.resolve()
    above = {root: frozenset([top])}  # each folder walked: the real folders it is in

    def problem(rel: str, reason: str, failed: bool) -> None:
        result.problems.append(Problem(rel, reason, failed))
        result.kept.append(f"{site}/{rel}")

    def unreadable_dir(exc: OSError) -> None:
        rel = Path(exc.filename or root).relative_to(root).as_posix()
        problem(rel, f"unreadable folder ({exc.strerror})", True)

    def followed(path: Path, rel: str) -> Path | None:
        """Where the link ``path`` leads, if it may be followed; else a problem."""
        if not follow_symlinks:
            problem(rel, SYMLINK_SKIPPED, False)
            return None
        target = path.resolve()
        if not target.exists():
            problem(rel, f"a broken symlink (to {os.readlink(path)})", True)
        elif not target.is_relative_to(top):
            problem(rel, f"a symlink leading outside the folder (to {os.readlink(path)}), "
                         "not followed", True)
        elif target in above.get(path.parent, ()):
            problem(rel, f"a symlink to a folder it is in (to {os.readlink(path)}), "
                         "not followed", True)
        else:
            return target
        return None

    for dirpath, dirnames, filenames in os.walk(root, onerror=unreadable_dir,
                                                followlinks=follow_symlinks):
        base = Path(dirpath)
        for name in list(dirnames):
            below = base / name
            target = below.resolve()
            if below.is_symlink() and followed(below, below.relative_to(root).as_posix()
                                               ) is None:
                dirnames.remove(name)
            above[below] = above[base] | {target}
        dirnames.sort()
        for name in sorted(filenames):
            path = base / name
            rel = path.relative_to(root).as_posix()
            try:
                rel.encode("utf-8")
            except UnicodeEncodeError:
                problem(rel.encode("utf-8", "replace").decode(), "name is not valid UTF-8",
                        True)
                continue
            try:
                info = path.lstat()
                if stat.S_ISLNK(info.st_mode):
                    if followed(path, rel) is None:
                        continue
                    info = path.stat()
                if not stat.S_ISREG(info.st_mode):
                    problem(rel, SPECIAL_SKIPPED, False)
                    continue
                digest = hash_file(path)
            except OSError as exc:
                problem(rel, f"unreadable ({exc.strerror or exc})", True)
                continue
            result.files.append(LocalFile(path, rel, f"{site}/{rel}", info.st_size, digest))
    return result


def plan(found: Scan, remote: dict[str, dict[str, Any]], mirror: bool) -> Plan:
    """Upload what is new, changed or in conflict; with ``mirror``, delete what is gone."""
    upload: list[LocalFile] = []
    unchanged: list[LocalFile] = []
    for f in found.files:
        there = remote.get(f.key)
        same = there is not None and there["hash"] == f.hash and there["siblings"] == 1
        (unchanged if same else upload).append(f)
    local = {f.key for f in found.files}
    delete = [k for k in sorted(remote) if mirror and k not in local
              and not any(in_folder(k, p) for p in found.kept)]
    return Plan(upload, unchanged, delete)


def with_fresh_siblings(todo: Plan) -> Plan:
    """Upload again the unchanged ``.gz``/``.br`` siblings of files being uploaded, so
    each is newer than its file (the gateway ignores an older one)."""
    keys = {f.key for f in todo.upload}
    stale = [f for f in todo.unchanged if is_sibling_of(f.key, keys)]
    return Plan([*todo.upload, *stale], [f for f in todo.unchanged if f not in stale],
                todo.delete)


def fold_keys(writes: list[Written]) -> list[str]:
    """Keys to read so the token covers every write: per replica, the write sent last and
    those acknowledged after it was sent (their counters may be higher)."""
    last: dict[tuple[str, str], Written] = {}
    for w in writes:
        at = (w.shard, w.node)
        if at not in last or w.sent > last[at].sent or (
                w.sent == last[at].sent and w.done > last[at].done):
            last[at] = w
    keys = []
    for w in writes:
        k = last[(w.shard, w.node)]
        if w is k or w.done >= k.sent:
            keys.append(w.key)
    return keys


@dataclass
class Outcome:
    uploaded: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    failed: list[Problem] = field(default_factory=list)
    bytes: int = 0
    writes: list[Written] = field(default_factory=list)


async def _execute(gw: Gateway, todo: Plan, jobs: int) -> Outcome:
    """Upload and delete with ``jobs`` requests in flight, behind one progress bar."""
    outcome = Outcome()
    total_files = len(todo.upload) + len(todo.delete)
    queue: asyncio.Queue[LocalFile | str] = asyncio.Queue()
    first, later = after_their_files(todo.upload)

    with transfer_progress(files=True) as progress:
        task = progress.add_task("publishing", total=sum(f.size for f in todo.upload),
                                 files=f"0/{total_files} files")

        def advance(n: int) -> None:
            progress.advance(task, n)

        async def one(item: LocalFile | str) -> None:
            sent = len(outcome.writes)
            if isinstance(item, str):
                key = item
                response = await gw.request("DELETE", object_path(key), write=True,
                                            params=KEYS_ONLY, keep_context=False)
                outcome.deleted.append(key)
            else:
                key = item.key
                response = await gw.request("PUT", object_path(key), write=True,
                                            params=KEYS_ONLY,
                                            content=file_body(item.path, advance),
                                            keep_context=False)
                outcome.uploaded.append(key)
                outcome.bytes += item.size
            outcome.writes.append(Written(key, response.headers.get("x-dwp-shard", ""),
                                          response.headers.get("x-dwp-node", ""), sent,
                                          len(outcome.writes)))

        async def worker() -> None:
            while not queue.empty():
                item = queue.get_nowait()
                try:
                    await one(item)
                except CliError as exc:
                    if exc.status not in PER_FILE and not (exc.status == 404
                                                           and isinstance(item, str)):
                        raise
                    if isinstance(item, LocalFile):
                        outcome.failed.append(Problem(item.rel, exc.message, True))
                except OSError as exc:
                    assert isinstance(item, LocalFile)
                    outcome.failed.append(Problem(item.rel, f"unreadable ({exc})", True))
                done = len(outcome.uploaded) + len(outcome.deleted) + len(outcome.failed)
                progress.update(task, files=f"{done}/{total_files} files")

        for batch in ([*first, *todo.delete], later):
            for item in batch:
                queue.put_nowait(item)
            await asyncio.gather(*(worker() for _ in range(max(1, jobs))))
    for key in fold_keys(outcome.writes):
        await gw.request("GET", object_path(key), params={"siblings": "true"})
    return outcome


def publish(
    folder: Annotated[Path, typer.Argument(exists=True, file_okay=False, metavar="DIR",
                                           help="The folder to publish.")],
    site: Annotated[str, typer.Option(help="The site's name: the first segment of its keys.")],
    delete: Annotated[bool, typer.Option(
        "--delete", help="Also delete the site's keys that are no longer in DIR.")] = False,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Say what would be uploaded and deleted; change nothing.")] = False,
    jobs: Annotated[int, typer.Option(min=1, max=64, help="Uploads in flight.")] = 8,
    follow_symlinks: Annotated[bool, typer.Option(
        "--follow-symlinks", help="Publish what symlinks inside DIR lead to (a link "
                                  "leading outside DIR fails).")] = False,
    compress: Annotated[bool, typer.Option(
        "--compress", help="Also publish .gz and .br siblings of text files, which the "
                           "gateway sends to clients that accept them.")] = False,
    preview: Annotated[bool, typer.Option(
        "--preview", help="Make the deploy without making it live; it is served at its "
                          "own preview origin until `dwp site promote`.")] = False,
    gateway: GatewayOption = DEFAULT_GATEWAY,
    network: NetworkOption = None,
    as_json: JsonOption = False,
) -> None:
    """Upload a folder as a site, skipping files whose content is already stored."""
    if not site or "/" in site:
        raise typer.BadParameter("a site name is one non-empty key segment, without '/'",
                                 param_hint="--site")
    problem = site_name_problem(site)
    if problem:
        raise typer.BadParameter(problem, param_hint="--site")
    check_site_files(folder)
    started = time.monotonic()
    found = scan(folder, site, follow_symlinks)
    with tempfile.TemporaryDirectory(prefix="dwp-compress-") as workdir:
        if compress:
            found.files.extend(siblings_of(found.files, Path(workdir)))
        todo, outcome, url, made = run(_publish(found, site, delete, dry_run, jobs, gateway,
                                                network, preview))
    report(site, folder, found, todo, outcome, dry_run, time.monotonic() - started, as_json,
           url, made)
    if any(p.failed for p in found.problems) or outcome.failed:
        raise typer.Exit(EXIT_FAILED)


def check_site_files(folder: Path) -> None:
    """The gateway ignores a broken ``_redirects`` or ``_headers``, so refuse one before
    uploading anything, naming its bad line (exit 2)."""
    for rules in (redirects, headers):
        path = folder / rules.NAME
        if not path.is_file():
            continue
        with path.open("rb") as f:
            data = f.read(rules.MAX_SIZE + 1)
        try:
            rules.parse(data)
        except ValueError as exc:
            typer.echo(f"dwp: {exc}; nothing was published", err=True)
            raise typer.Exit(EXIT_USAGE) from None


async def _publish(found: Scan, site: str, mirror: bool, dry_run: bool, jobs: int,
                   gateway: str, network: str | None, preview: bool = False
                   ) -> tuple[Plan, Outcome, str, dict[str, Any] | None]:
    """Upload and delete what changed, then deploy the site's keys as they now stand
    (not when a file failed: nothing goes live from a publish that lost a file)."""
    async with Gateway(gateway, network) as gw:
        remote = {e["key"]: e async for e in gw.objects(folder_prefix(site))}
        todo = with_fresh_siblings(plan(found, remote, mirror))
        if dry_run:
            return todo, Outcome(), "", None
        _, live_context = await deploys_of(gw, site)
        outcome = await _execute(gw, todo, jobs)
        made = None
        if not outcome.failed and not any(p.failed for p in found.problems):
            published = {f.key[len(site) + 1:]: f.hash for f in found.files}
            made = await make_deploy(gw, site, published, preview, live_context)
        return todo, outcome, await site_url(gw, site + "/"), made


def report(site: str, folder: Path, found: Scan, todo: Plan, outcome: Outcome,
           dry_run: bool, seconds: float, as_json: bool, url: str = "",
           made: dict[str, Any] | None = None) -> None:
    """The summary: JSON (shape in docs/cli.md) or a few lines, problems on stderr."""
    failed = [p for p in found.problems if p.failed] + outcome.failed
    skipped = [p for p in found.problems if not p.failed]
    uploaded = [f.key for f in todo.upload] if dry_run else sorted(outcome.uploaded)
    deleted = todo.delete if dry_run else sorted(outcome.deleted)
    sent = sum(f.size for f in todo.upload) if dry_run else outcome.bytes
    if as_json:
        print_json({"site": site, "dry_run": dry_run, "uploaded": uploaded,
                    "unchanged": len(todo.unchanged), "deleted": deleted, "bytes": sent,
                    "skipped": [{"path": p.rel, "reason": p.reason} for p in skipped],
                    "failed": [{"path": p.rel, "reason": p.reason} for p in failed],
                    "url": url or None, "deploy": made})
        return
    for p in skipped:
        err.print(f"[yellow]skipped[/yellow] {p.rel}: {p.reason}")
    for p in failed:
        err.print(f"[red]failed[/red] {p.rel}: {p.reason}")
    console = out()
    if dry_run:
        for key in uploaded:
            console.print(f"would upload {key}")
        for key in deleted:
            console.print(f"would delete {key}")
    verb = ("would upload", "would delete") if dry_run else ("uploaded", "deleted")
    console.print(f"{'Dry run for' if dry_run else 'Published'} site '{site}' from {folder}: "
                  f"{verb[0]} {len(uploaded)} ({size(sent)}), {len(todo.unchanged)} unchanged, "
                  f"{verb[1]} {len(deleted)}, {len(skipped)} skipped, {len(failed)} failed"
                  + ("" if dry_run else f" in {seconds:.1f}s"))
    if made is not None:
        deployed(site, made)
    if url:
        console.print(f"Site at {url}")  # last: scripts take the URL from the last line
