"""Entry point: the command group, error handling and command list."""

from __future__ import annotations

import sys
import warnings

import click

from aekit import __version__
from aekit.exceptions import AekitError


def _fail(text: str) -> None:
    text = " ".join(text.split())  # one line, whatever the message
    click.echo(f"aekit: error: {text}", err=True)


def _usage_line(exc: click.UsageError, command_path: str) -> str:
    """Click's usage error as one line: the message and where help is.

    Click prints the usage, a "Try --help" line, a blank line and then the
    error, and lists its suggestions sorted by name (--anneal-epochs before
    --epochs); here they come closest first.
    """
    text = exc.format_message()
    close = getattr(exc, "possibilities", None)  # NoSuchOption, NoSuchCommand
    if close:
        names = [repr(name) for name in close]
        guess = (
            names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
        )
        text = f"{exc.message} Did you mean {guess}?"
    path = exc.ctx.command_path if exc.ctx else command_path
    return f"{text} (see {path} --help)"


class AekitGroup(click.Group):
    """Turns a user's mistake into one line on stderr and exit code 2."""

    def make_context(self, info_name, args, parent=None, **extra):
        # The group's own options are parsed here, before invoke ('aekit --verbos').
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.exceptions.NoArgsIsHelpError:
            raise  # 'aekit' alone prints the help
        except click.UsageError as exc:
            _fail(_usage_line(exc, info_name or "aekit"))
            raise click.exceptions.Exit(2) from None

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except AekitError as exc:
            _fail(str(exc))
            ctx.exit(2)
        except click.UsageError as exc:
            _fail(_usage_line(exc, ctx.command_path))
            ctx.exit(2)
        except KeyboardInterrupt:
            click.echo("aekit: interrupted", err=True)
            ctx.exit(130)


def _showwarning(message, category, filename, lineno, file=None, line=None):
    click.echo(f"aekit: warning: {message}", err=True)


@click.group(
    "aekit", cls=AekitGroup, context_settings={"help_option_names": ["-h", "--help"]}
)
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
