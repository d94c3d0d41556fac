"""``aekit recommend RUN_DIR``: top-k items for known users or a new history."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import click

from aekit.cli.options import load_run
from aekit.exceptions import ConfigError, DataError


def read_history(path: str | Path) -> list[str]:
    """Item ids from a text file: one per line, or separated by commas, tabs or
    spaces; lines starting with '#' are comments."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError(f"History file {path} does not exist.") from None
    except (UnicodeDecodeError, IsADirectoryError):
        raise DataError(f"{path} is not a text file of item ids.") from None
    items = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        items += [t for t in re.split(r"[,\t ]+", line) if t]
    if not items:
        raise DataError(f"History file {path} lists no item ids.")
    return items


def read_histories(path: str | Path) -> list[list[int]]:
    """One history per line, oldest item first, ids separated by , ; or spaces;
    '#' starts a comment."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError(f"History file {path} does not exist.") from None
    except (UnicodeDecodeError, IsADirectoryError):
        raise DataError(f"{path} is not a text file of item ids.") from None
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


def recommend_sequences(model, history, k: int, exclude_seen: bool):
    """Order-aware top-k for each history line of the file ``history``."""
    if history is None:
        raise ConfigError(
            "A sequence model ranks the next item of a history: pass --history FILE "
            "(one history per line, oldest item first)."
        )
    return model.recommend(read_histories(history), k, exclude_seen=exclude_seen)


def recommend_run(
    run_dir,
    *,
    users=(),
    history=None,
    k: int = 10,
    exclude_seen: bool = True,
    model=None,
) -> list[dict]:
    """Recommendations as a list of {"user"/"history", "items": [...]} dicts.

    For a Recommender: known users, or a new user's items. (Sequence models
    rank each line of a history file in order: see ``recommend_sequences``.)
    ``model``: the Recommender in ``run_dir``, when the caller has loaded it.
    """
    import numpy as np

    if model is None:
        model = load_run(run_dir, "recommend", "Recommender")
    if bool(users) == (history is not None):
        raise ConfigError("Pass --user ID (one or more) or --history FILE.")
    if users:
        items, scores = model.recommend(list(users), k=k, exclude_seen=exclude_seen)
        keys = [{"user": u} for u in users]
    else:
        ids = read_history(history)
        _, known = _known(model, ids)
        if not known.any():
            raise DataError(
                f"None of the {len(ids)} items in {history} is known to the model; "
                "check the ids (they are the items' own ids from the training data)."
            )
        if not known.all():
            unknown = [i for i, ok in zip(ids, known, strict=True) if not ok]
            warnings.warn(
                f"{len(unknown)} item id(s) in {history} are unknown to the model and "
                f"were ignored: {', '.join(unknown[:5])}"
                + (", ..." if len(unknown) > 5 else ""),
                stacklevel=2,
            )
        items, scores = model.recommend(
            histories=[np.asarray(ids)], k=k, exclude_seen=exclude_seen
        )
        keys = [{"history": str(history), "n_known_items": int(known.sum())}]
    out = []
    for key, row_items, row_scores in zip(keys, items, scores, strict=True):
        out.append(
            key
            | {
                "items": [
                    {"rank": r + 1, "item": _plain(i), "score": float(s)}
                    for r, (i, s) in enumerate(zip(row_items, row_scores, strict=True))
                ]
            }
        )
    return out


def _known(model, ids):
    import numpy as np

    from aekit.data.interactions import _lookup

    return _lookup(model.item_ids_, np.asarray(ids))


def _plain(value):
    return value.item() if hasattr(value, "item") else value


@click.command("recommend")
@click.argument("run_dir")
@click.option(
    "--user",
    "users",
    multiple=True,
    help="A training user's id (repeat for several).",
)
@click.option(
    "--history",
    type=click.Path(dir_okay=False),
    help="A new user's items: a text file of item ids (one per line).",
)
@click.option("--k", "-n", "k", default=10, show_default=True, help="Items per user.")
@click.option(
    "--include-seen", is_flag=True, help="Allow items already in the history."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def recommend_command(run_dir, users, history, k, include_seen, as_json):
    """Recommend the top --k items to known users (--user) or a new history."""
    if k < 1:
        raise ConfigError(f"--k must be a positive integer. Got {k}.")
    model = load_run(run_dir, "recommend", "Recommender", "SequenceAutoencoder")
    if hasattr(model, "next_item_scores"):  # a sequence model: the order matters
        if users:
            raise ConfigError(
                f"{run_dir} holds a sequence model: pass --history FILE, not --user."
            )
        items, scores = recommend_sequences(model, history, k, not include_seen)
        for row_items, row_scores in zip(items, scores, strict=True):
            click.echo(
                " ".join(
                    f"{int(i)}:{s:.4f}"
                    for i, s in zip(row_items, row_scores, strict=True)
                )
            )
        return
    result = recommend_run(
        run_dir,
        users=users,
        history=history,
        k=k,
        exclude_seen=not include_seen,
        model=model,
    )
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    for block in result:
        who = (
            f"user {block['user']}"
            if "user" in block
            else f"history {block['history']} ({block['n_known_items']} known items)"
        )
        click.echo(f"# {who}")
        click.echo("rank\titem\tscore")
        for row in block["items"]:
            click.echo(f"{row['rank']}\t{row['item']}\t{row['score']:.6g}")


COMMANDS = [recommend_command]
