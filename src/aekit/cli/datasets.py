"""``aekit datasets``: the built-in data sets and the formats aekit reads."""

import click


@click.command("datasets")
def datasets_command():
    """List built-in data sets and readable file formats."""
    from aekit.data import describe_formats

    click.echo(describe_formats())


COMMANDS = [datasets_command]
