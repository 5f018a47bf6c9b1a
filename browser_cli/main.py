"""The ``dwp`` command."""

from __future__ import annotations

import typer

from browser_cli.conflicts import conflicts, resolve
from browser_cli.deploys import site_app
from browser_cli.history import gc, history, restore
from browser_cli.network import network_app
from browser_cli.node import node_app
from browser_cli.objects import get, ls, put, rm, search
from browser_cli.options import PLAIN_HELP
from browser_cli.pages import open_page, view
from browser_cli.publish import publish
from browser_cli.up import up

app = typer.Typer(help="dwp: host and browse web pages on a network of trusted peers.",
                  no_args_is_help=True, pretty_exceptions_enable=False,
                  rich_markup_mode=PLAIN_HELP)


@app.callback()
def main() -> None:
    """Run a network with `dwp up`; publish, fetch and view pages through its gateway."""


app.command()(up)
app.command()(publish)
for command in (put, get, rm, ls, search, view, conflicts, resolve, history, restore, gc):
    app.command()(command)
app.command("open")(open_page)
app.add_typer(network_app, name="network")
app.add_typer(node_app, name="node")
app.add_typer(site_app, name="site")

if __name__ == "__main__":
    app()
