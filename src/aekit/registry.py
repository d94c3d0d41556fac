"""One registry per axis of the autoencoder's design.

A model is architecture x latent x regularizers x corruption x likelihood.
Each component class registers itself under a name (the name of its file), and
``config.json`` records ``{"kind": name, **fields}`` so that loading rebuilds
the same component by looking the kind up here.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable
from typing import Any, ClassVar

from torch import nn

from aekit.exceptions import ConfigError


class Component(nn.Module):
    """A torch module described by a frozen dataclass ``Config``.

    Subclasses define ``Config`` and build themselves from it; ``to_dict`` and
    the registry's ``build`` round-trip a component through JSON.
    """

    kind: ClassVar[str] = ""

    @dataclasses.dataclass(frozen=True)
    class Config:
        pass

    def __init__(self, config: Config):
        super().__init__()
        self.config = config

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **_jsonable(dataclasses.asdict(self.config))}

    def extra_repr(self) -> str:
        return ", ".join(
            f"{k}={v!r}" for k, v in dataclasses.asdict(self.config).items()
        )


def _jsonable(value):
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def _literal(text: str):
    """The value of one option typed on the command line."""
    text = text.strip()
    low = text.lower()
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    if low in ("none", "null"):
        return None
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


def make_config(cls: type, fields: dict[str, Any], *, what: str):
    """Build ``cls`` (a dataclass) from ``fields``, rejecting unknown names."""
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(fields) - set(known))
    if unknown:
        raise ConfigError(
            f"{what} has no option {unknown[0]!r}; its options are "
            f"{', '.join(sorted(known)) or '(none)'}."
        )
    converted = {}
    for name, value in fields.items():
        # JSON gives lists where the dataclass keeps tuples.
        converted[name] = tuple(value) if isinstance(value, list) else value
    return cls(**converted)


class Registry:
    """Maps names to component classes for one axis (e.g. "architecture")."""

    def __init__(self, axis: str):
        self.axis = axis
        self._entries: dict[str, type[Component]] = {}

    def register(self, name: str) -> Callable[[type[Component]], type[Component]]:
        def decorator(cls: type[Component]) -> type[Component]:
            if name in self._entries:
                raise RuntimeError(f"{self.axis} {name!r} is registered twice")
            cls.kind = name
            self._entries[name] = cls
            return cls

        return decorator

    def names(self) -> list[str]:
        return sorted(self._entries)

    def get(self, name: str) -> type[Component]:
        try:
            return self._entries[name]
        except KeyError:
            close = difflib.get_close_matches(str(name), self._entries, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"Unknown {self.axis} {name!r}.{hint} "
                f"Choose one of: {', '.join(self.names())}."
            ) from None

    def config(self, spec: dict[str, Any]):
        """The ``Config`` instance that ``spec`` ({"kind": ..., **fields}) names."""
        spec = dict(spec)
        if "kind" not in spec:
            raise ConfigError(f"A {self.axis} specification needs a 'kind'.")
        cls = self.get(spec.pop("kind"))
        return cls, make_config(cls.Config, spec, what=f"{self.axis} {cls.kind!r}")

    def parse(self, value: str | dict[str, Any]) -> dict[str, Any]:
        """A spec from the short form users type.

        ``"gaussian"``, ``"gaussian:0.3"`` (fields in declaration order) or
        ``"gaussian:sigma=0.3,clip=true"``; a dict passes through.
        """
        if isinstance(value, dict):
            spec = dict(value)
        elif isinstance(value, str):
            kind, _, rest = value.partition(":")
            spec = {"kind": kind.strip()}
            cls = self.get(spec["kind"])
            names = [f.name for f in dataclasses.fields(cls.Config)]
            for i, part in enumerate(p for p in rest.split(",") if p.strip()):
                if "=" in part:
                    key, _, text = part.partition("=")
                    spec[key.strip().replace("-", "_")] = _literal(text)
                elif i < len(names):
                    spec[names[i]] = _literal(part)
                else:
                    raise ConfigError(
                        f"{self.axis} {value!r} has more values than {cls.kind!r} "
                        f"has options ({', '.join(names)})."
                    )
        else:
            raise ConfigError(
                f"A {self.axis} is given as a name such as 'gaussian:0.3' or a dict. "
                f"Got {value!r}."
            )
        self.config(spec)  # validate names and fields now, with a clear message
        return spec

    def __contains__(self, name: str) -> bool:
        return name in self._entries


ARCHITECTURES = Registry("architecture")
LATENTS = Registry("latent")
REGULARIZERS = Registry("regularizer")
CORRUPTIONS = Registry("corruption")
LIKELIHOODS = Registry("likelihood")
