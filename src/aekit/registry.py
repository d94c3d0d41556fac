"""One registry per axis of the autoencoder's design.

A model is architecture x latent x regularizers x corruption x likelihood.
Each component class registers itself under a name (the name of its file), and
``config.json`` records ``{"kind": name, **fields}`` so that loading rebuilds
the same component by looking the kind up here.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import numbers
import types
import typing
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
from torch import nn

from aekit.exceptions import ConfigError


class Component(nn.Module):
    """A torch module described by a frozen dataclass ``Config``.

    Subclasses define ``Config`` and build themselves from it; ``to_dict`` and
    the registry's ``build`` round-trip a component through JSON. Every field's
    value is checked against its declared type here, so a subclass checks
    ranges only, and says so with :meth:`invalid`.
    """

    kind: ClassVar[str] = ""
    axis: ClassVar[str] = ""

    @dataclasses.dataclass(frozen=True)
    class Config:
        pass

    def __init__(self, config: Config):
        super().__init__()
        check_fields(type(self), config)
        self.config = config

    def invalid(self, name: str, allowed: str) -> ConfigError:
        """The error for field ``name``, whose value is not ``allowed``."""
        return field_error(type(self), name, getattr(self.config, name), allowed)

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


def field_error(cls: type[Component], name: str, value, allowed: str) -> ConfigError:
    """The one-line error for a field's value, such as: The gaussian
    corruption's sigma must be >= 0. Got -1 instead."""
    return ConfigError(
        f"The {cls.kind} {cls.axis}'s {name} must be {allowed}. Got {value!r} instead."
    )


@functools.cache
def _field_types(config_cls: type) -> dict[str, Any]:
    return typing.get_type_hints(config_cls)


def allows(hint, value, *, numpy: bool = False) -> bool:
    """Whether ``value`` is of the declared type ``hint``: bool, int, float
    (finite), str, None, dict, ``tuple[X, ...]`` or a union of them; any other
    type allows everything (whoever uses the value checks it). ``numpy``: numpy's
    scalars count as Python's, for values converted before use."""
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool | np.bool_ if numpy else bool)
    if hint in (int, float) and isinstance(value, bool | np.bool_):
        return False  # True is an int to Python, never to a user
    if hint is int:  # Python's own: a numpy int would not survive json.dumps
        return isinstance(value, numbers.Integral if numpy else int)
    if hint is float:
        # No field has a use for NaN or infinity, which a range check such as
        # "x < 0" lets through.
        if not isinstance(value, numbers.Real if numpy else int | float):
            return False
        return isinstance(value, numbers.Integral) or math.isfinite(value)
    if hint in (str, dict):
        return isinstance(value, hint)
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (types.UnionType, typing.Union):
        return any(allows(h, value, numpy=numpy) for h in args)
    if typing.get_origin(hint) is tuple and args[1:] == (Ellipsis,):
        return isinstance(value, tuple) and all(
            allows(args[0], v, numpy=numpy) for v in value
        )
    return True


def describe(hint) -> str:
    """What a value of type ``hint`` looks like, for an error message."""
    names = {
        type(None): "None",
        bool: "True or False",
        int: "an int",
        float: "a finite number",
        str: "a string",
        dict: "a dict",
    }
    if hint in names:
        return names[hint]
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (types.UnionType, typing.Union):
        parts = [describe(h) for h in args]
        return ", ".join(parts[:-1]) + " or " + parts[-1]
    if typing.get_origin(hint) is tuple and args[1:] == (Ellipsis,):
        return f"a tuple of {describe(args[0]).split(' ', 1)[-1]}s"
    return str(hint)


def check_fields(cls: type[Component], config) -> None:
    """Raise a ConfigError on the first field whose value is not of its type."""
    for name, hint in _field_types(type(config)).items():
        value = getattr(config, name)
        if not allows(hint, value):
            raise field_error(cls, name, value, describe(hint))


def make_config(cls: type[Component], fields: dict[str, Any]):
    """Build ``cls.Config`` from ``fields``, rejecting unknown names and values
    of the wrong type."""
    known = {f.name for f in dataclasses.fields(cls.Config)}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise ConfigError(
            f"{cls.axis} {cls.kind!r} has no option {unknown[0]!r}; its options are "
            f"{', '.join(sorted(known)) or '(none)'}."
        )
    converted = {}
    for name, value in fields.items():
        # JSON gives lists where the dataclass keeps tuples.
        converted[name] = tuple(value) if isinstance(value, list) else value
    config = cls.Config(**converted)
    check_fields(cls, config)
    return config


class Registry:
    """Maps names to component classes for one axis (e.g. "architecture")."""

    def __init__(self, axis: str):
        self.axis = axis
        self._entries: dict[str, type[Component]] = {}

    def register(self, name: str) -> Callable[[type[Component]], type[Component]]:
        def decorator(cls: type[Component]) -> type[Component]:
            if name in self._entries:
                raise RuntimeError(f"{self.axis} {name!r} is registered twice")
            cls.kind, cls.axis = name, self.axis
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
        return cls, make_config(cls, spec)

    def parse(self, value: str | dict[str, Any]) -> dict[str, Any]:
        """A spec from the short form users type.

        ``"gaussian"`` (all defaults), ``"gaussian:0.3"`` (fields in declaration
        order) or ``"gaussian:sigma=0.3,clip=true"``; a dict passes through. A
        colon with nothing after it, an empty value, a value after a named one
        and a field given twice are errors, not defaults.
        """
        if isinstance(value, dict):
            spec = dict(value)
        elif isinstance(value, str):
            kind, colon, rest = value.partition(":")
            spec = {"kind": kind.strip()}
            cls = self.get(spec["kind"])
            names = [f.name for f in dataclasses.fields(cls.Config)]
            example = f"'{cls.kind}:{names[0]}=...'" if names else repr(cls.kind)
            named = False
            for i, part in enumerate(rest.split(",") if colon else []):
                key, equals, text = part.partition("=")
                if not equals:
                    key, text = "", part
                key = key.strip().replace("-", "_")
                if not text.strip():
                    raise ConfigError(
                        f"The {self.axis} {value!r} has an empty value: give one "
                        f"after each ':', ',' and '=', such as {example}, or write "
                        f"{cls.kind!r} alone for the defaults."
                    )
                if not equals:
                    if named:
                        raise ConfigError(
                            f"The {self.axis} {value!r} has a value without a name "
                            f"after a named one; name it, such as {example}."
                        )
                    if i >= len(names):
                        raise ConfigError(
                            f"The {self.axis} {value!r} has more values than "
                            f"{cls.kind!r} has options ({', '.join(names)})."
                        )
                    key = names[i]
                named = named or bool(equals)
                if key in spec:
                    raise ConfigError(
                        f"The {self.axis} {value!r} gives {key} twice; give it once."
                    )
                spec[key] = _literal(text)
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
