"""``aekit recommend RUN --history FILE``: rank the next items of histories.

Dispatches on what the run folder holds: any fitted estimator with a
``recommend(histories, n, exclude_seen=...)`` method answers (the sequence
model ranks by order; other recommenders by their own scores).
"""

from __future__ import annotations

import re
from pathlib import Path

import click

from aekit.exceptions import ConfigError, DataError


def read_histories(path: str | Path) -> list[list[int]]:
    """One history per line: item ids, oldest first, separated by , ; or spaces."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"History file {path} does not exist.") from None
    histories = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            histories.append([int(v) for v in re.split(r"[,;\s]+", line) if v])
        except ValueError:
            raise DataError(
                f"{path} line {number}: item ids must be integers separated by "
                f"commas or spaces. Got {line[:60]!r}."
            ) from None
    if not histories:
        raise DataError(f"{path} holds no history (one line of item ids each).")
    return histories


def recommend_histories(model, histories, n: int = 10, exclude_seen: bool = True):
    """Top-``n`` items and scores for each history, from any recommender."""
    if not hasattr(model, "recommend"):
        raise ConfigError(
            f"The model is a {type(model).__name__}, which does not recommend; fit a "
            "sequence model on items ('aekit fit-sequence DATA --kind items')."
        )
    return model.recommend(histories, n, exclude_seen=exclude_seen)


@click.command("recommend")
@click.argument("run_dir")
@click.option("--history", "history", required=True, help="File of item histories.")
@click.option("-n", "n", type=int, default=10, show_default=True)
@click.option("--include-seen", is_flag=True, help="Allow items already seen.")
def recommend_command(run_dir, history, n, include_seen):
    """Print the top N next items for each history in --history.

    Output: one line per history, 'item:score' pairs best first (scores are
    the model's log-probabilities).
    """
    import aekit

    model = aekit.load(run_dir)
    items, scores = recommend_histories(
        model, read_histories(history), n, exclude_seen=not include_seen
    )
    for row_items, row_scores in zip(items, scores, strict=True):
        click.echo(
            " ".join(
                f"{int(i)}:{s:.4f}" for i, s in zip(row_items, row_scores, strict=True)
            )
        )


COMMANDS = [recommend_command]
