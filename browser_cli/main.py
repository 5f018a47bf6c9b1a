"""The ``dwp`` command."""

from __future__ import annotations

import typer

from browser_cli.up import up

app = typer.Typer(help="dwp: host and browse web pages on a network of trusted peers.",
                  no_args_is_help=True, pretty_exceptions_enable=False)


@app.callback()
def main() -> None:
    """Run a network with `dwp up`; publish, fetch and view pages through its gateway."""


app.command()(up)

if __name__ == "__main__":
    app()
