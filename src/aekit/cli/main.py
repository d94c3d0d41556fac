"""Entry point: the command group, error handling and command list."""

from __future__ import annotations

import sys
import warnings

import click

from aekit import __version__
from aekit.exceptions import AekitError


class AekitGroup(click.Group):
    """Turns a user's mistake into one line on stderr and exit code 2."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except AekitError as exc:
            text = " ".join(str(exc).split())  # one line, whatever the message
            click.echo(f"aekit: error: {text}", err=True)
            ctx.exit(2)
        except KeyboardInterrupt:
            click.echo("aekit: interrupted", err=True)
            ctx.exit(130)


def _showwarning(message, category, filename, lineno, file=None, line=None):
    click.echo(f"aekit: warning: {message}", err=True)


@click.group(cls=AekitGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="aekit")
def cli():
    """aekit: fit, encode, decode and evaluate autoencoders on your own data."""
    warnings.showwarning = _showwarning


def _register() -> None:
    from aekit.cli import (
        anomalies,
        datasets,
        deblur,
        demo,
        denoise,
        encode,
        evaluate,
        fit,
        generate,
        inpaint,
        recommend,
        report,
        sequence,
    )

    for module in (
        fit,
        encode,
        evaluate,
        demo,
        datasets,
        report,
        anomalies,
        denoise,
        generate,
        recommend,
        inpaint,
        deblur,
        sequence,
    ):
        for command in module.COMMANDS:
            cli.add_command(command)


_register()


def main(argv: list[str] | None = None) -> int:
    try:
        cli.main(args=argv, prog_name="aekit", standalone_mode=True)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
