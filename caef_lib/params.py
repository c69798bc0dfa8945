"""Notebook parameters: typed dataclasses, coercion and validation.

Each notebook declares its parameters as a dataclass (see `notebook_params.py`); the notebook's Papermill
`parameters` cell holds the same names with the same defaults (a test checks it). Values arrive as Python
objects (from a profile, `-f params.yaml` or papermill) or as strings (`-p name=value`); `validate` coerces
them to the declared type and checks choices, ranges and local paths, so that a bad value is rejected with a
message naming the parameter and what it accepts *before* any heavy work starts.

Extra constraints live in the field metadata, written with `param(...)`:
    choices=(...)   accepted values (for lists: accepted items)
    min=, max=      numeric range (for lists: range of every item)
    kind="model"    a built-in tiny model name or an existing local Hugging Face model directory
    kind="dir"      an existing directory ('' allowed when the default is '')
and a dataclass may define `check(self)` for rules that involve several fields.
"""
from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from pathlib import Path
from typing import Any

import yaml

# Built-in tiny architectures the kit initialises itself (no downloaded weights). The models module
# maps each name to a transformers configuration.
BUILTIN_MODELS = ("tiny-llama", "tiny-gpt2")


class ParameterError(ValueError):
    """A parameter value that the kit does not accept. The message names the parameter."""


def param(default: Any = dataclasses.MISSING, *, help: str = "", choices: tuple | None = None,
          min: float | None = None, max: float | None = None, kind: str | None = None,
          default_factory: Any = dataclasses.MISSING) -> Any:
    meta = {"help": help, "choices": choices, "min": min, "max": max, "kind": kind}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    if isinstance(default, (list, dict, set)):
        value = default
        return dataclasses.field(default_factory=lambda: type(value)(value), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def parse_cli_value(text: str) -> Any:
    """`-p name=value`: the value is read as YAML (3 → int, 1e-4 → float, true → bool, [a, b] → list)."""
    try:
        value = yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError:
        return text
    if isinstance(value, str):  # YAML 1.1 reads 1e-4 (no dot) as a string
        try:
            return float(value)
        except ValueError:
            pass
    return value


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (list, tuple):
        (inner, *_) = typing.get_args(tp) or (Any,)
        return f"a list of {_describe(inner)}"
    if origin is dict:
        return "a mapping"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(tp))
    return {int: "an integer", float: "a number", str: "a string", bool: "true/false",
            type(None): "null"}.get(tp, getattr(tp, "__name__", str(tp)))


def _coerce(name: str, tp: Any, value: Any) -> Any:
    origin = typing.get_origin(tp)
    bad = ParameterError(f"parameter {name!r}: {value!r} is not {_describe(tp)}")
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(name, arg, value)
            except ParameterError:
                continue
        raise bad
    if origin in (list, tuple):
        (inner, *_) = typing.get_args(tp) or (Any,)
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        elif not isinstance(value, (list, tuple)):
            value = [value]
        return [_coerce(name, inner, v) for v in value]
    if origin is dict:
        if not isinstance(value, dict):
            raise bad
        return dict(value)
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
        raise bad
    if tp is int:
        if isinstance(value, bool):
            raise bad
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.replace("_", ""))
            except ValueError:
                raise bad from None
        raise bad
    if tp is float:
        if isinstance(value, bool):
            raise bad
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                raise bad from None
        raise bad
    if tp is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise bad
    return value


def _check_constraints(name: str, meta: dict, value: Any) -> None:
    items = value if isinstance(value, list) else [value]
    choices = meta.get("choices")
    for item in items:
        if choices is not None and item not in choices:
            raise ParameterError(
                f"parameter {name!r}: {item!r} is not accepted; choose from {', '.join(map(str, choices))}")
        if isinstance(item, (int, float)) and not isinstance(item, bool):
            lo, hi = meta.get("min"), meta.get("max")
            if lo is not None and item < lo:
                raise ParameterError(f"parameter {name!r}: {item!r} is below the minimum {lo}")
            if hi is not None and item > hi:
                raise ParameterError(f"parameter {name!r}: {item!r} is above the maximum {hi}")
    kind = meta.get("kind")
    if kind == "model":
        check_model_path(name, value)
    elif kind == "dir" and value:
        if not Path(value).expanduser().is_dir():
            raise ParameterError(f"parameter {name!r}: directory {value!r} does not exist")


def check_model_path(name: str, value: str) -> None:
    """A base model is a built-in tiny architecture or a local Hugging Face folder (never a hub id)."""
    if value in BUILTIN_MODELS:
        return
    path = Path(value).expanduser()
    if not path.is_dir():
        raise ParameterError(
            f"parameter {name!r}: {value!r} is neither a built-in model ({', '.join(BUILTIN_MODELS)}) nor an "
            f"existing local directory. The kit never downloads weights: give the path of a local Hugging Face "
            f"model folder, e.g. -p {name}=/models/Meta-Llama-3.1-8B")
    if not (path / "config.json").is_file():
        raise ParameterError(
            f"parameter {name!r}: {value!r} exists but has no config.json, so it is not a Hugging Face model folder")


def fields_of(cls: type) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(cls)}


def validate(cls: type, values: dict[str, Any], *, notebook: str = "") -> Any:
    """Build a `cls` instance from `values`, rejecting unknown names, wrong types and bad values."""
    where = f" of {notebook}" if notebook else ""
    fields = fields_of(cls)
    unknown = sorted(set(values) - set(fields))
    if unknown:
        close = difflib.get_close_matches(unknown[0], fields, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ParameterError(
            f"unknown parameter{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}{where}{hint}; "
            f"accepted: {', '.join(fields)}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in values.items():
        try:
            kwargs[name] = _coerce(name, hints[name], value)
            _check_constraints(name, fields[name].metadata, kwargs[name])
        except ParameterError as e:
            raise ParameterError(f"{e}{where}") from None
    obj = cls(**kwargs)
    for name, f in fields.items():  # defaults must satisfy the constraints too (kind=model, choices)
        if name not in kwargs:
            try:
                _check_constraints(name, f.metadata, getattr(obj, name))
            except ParameterError as e:
                raise ParameterError(f"{e}{where}") from None
    if hasattr(obj, "check"):
        try:
            obj.check()
        except ParameterError as e:
            raise ParameterError(f"{e}{where}") from None
    return obj


def from_namespace(cls: type, namespace: dict[str, Any], *, notebook: str = "") -> Any:
    """Validate the parameters a notebook holds as globals (after Papermill injected its values)."""
    return validate(cls, {n: namespace[n] for n in fields_of(cls) if n in namespace}, notebook=notebook)


def describe(cls: type) -> list[dict[str, Any]]:
    """One row per parameter: name, type, default, help (for README tables and `--help`)."""
    hints = typing.get_type_hints(cls)
    rows = []
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        rows.append({"name": f.name, "type": _describe(hints[f.name]), "default": default,
                     "help": f.metadata.get("help", ""), "choices": f.metadata.get("choices")})
    return rows
