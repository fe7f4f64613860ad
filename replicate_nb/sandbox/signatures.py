"""From a Python signature to the OpenAPI schema Cog would generate for it (`forms.md` §1).

Parameters become `components.schemas.Input` properties with `x-order`, TitleCase `title`,
`default`, bounds and `nullable`; choices and `Literal[...]` become separate enum components
referenced through `allOf`; `pathlib.Path` is `format: uri`; `Secret` is a write-only password.
The return annotation becomes `Output` (`x-cog-array-type: iterator` for generators,
`x-cog-array-display: concatenate` for `ConcatenateIterator[str]`). Nothing here runs a model.
"""

from __future__ import annotations

import collections.abc as cabc
import dataclasses
import inspect
import re
import types
import typing
from pathlib import PurePath
from typing import Any

from .. import schema as cog_schema
from ..inputs import Input, Secret
from .cog_document import openapi_document

_PRIMITIVES: dict[Any, dict[str, Any]] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    Any: {"type": "object"},
    dict: {"type": "object"},
}
_SECRET = {"type": "string", "format": "password", "writeOnly": True, "x-cog-secret": True}
_ITERATORS = {
    cabc.Iterator,
    cabc.Iterable,
    cabc.Generator,
    cabc.AsyncIterator,
    cabc.AsyncIterable,
    cabc.AsyncGenerator,
}
_SUPPORTED = (
    "str, int, float, bool, pathlib.Path, Secret, Literal[...], Optional[T], list[T], dict or Any"
)


@dataclasses.dataclass
class Param:
    """One predict parameter: how to fill it from a JSON input."""

    name: str
    kind: str  # "path", "secret", "float" or "plain"
    many: bool  # list[T]
    factory: Any  # the Path or Secret class to build
    fallback: Any  # what the callable gets when the input is left out


def describe(
    signature: inspect.Signature, label: str, *, streams: bool
) -> tuple[list[Param], dict[str, Any]]:
    """The runtime parameters and the full OpenAPI document of a predict signature.

    Raises:
        TypeError: a parameter or the return type has a missing or unsupported annotation.
        ValueError: a default breaks its own constraints, or a regex does not compile.
    """
    params, input_schema, enums = _inputs(signature, label)
    output = _output(signature.return_annotation, streams, label)
    document = openapi_document(input_schema, output, enums)
    _check_defaults(document, label)
    return params, document


def _inputs(
    signature: inspect.Signature, label: str
) -> tuple[list[Param], dict[str, Any], list[tuple[str, dict[str, Any]]]]:
    params: list[Param] = []
    properties: dict[str, Any] = {}
    required: list[str] = []
    enums: list[tuple[str, dict[str, Any]]] = []
    for order, (name, parameter) in enumerate(signature.parameters.items()):
        where = f"parameter {name!r} of {label}"
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            raise TypeError(
                f"{where}: *args and **kwargs cannot become model inputs; name each "
                "input as its own parameter"
            )
        if parameter.annotation is parameter.empty:
            raise TypeError(f"{where} has no type hint; add one, e.g. `{name}: str`")
        annotation, info = _unwrap_annotated(parameter.annotation)
        info = info or _as_input(parameter.default)
        prop, param, enum, nullable = _property(name, annotation, info, where)
        prop = {"x-order": order, **prop}
        if enum is not None:
            enums.append((name, enum))
        if info.has_default and (info.default is not None or nullable):
            prop["default"] = (
                str(info.default) if isinstance(info.default, PurePath) else info.default
            )
        elif not info.has_default and not nullable:
            required.append(name)
        if nullable:
            prop["nullable"] = True
        prop.update(_constraints(info, param, prop, where))
        param.fallback = info.default if info.has_default else None
        properties[name] = prop
        params.append(param)
    schema: dict[str, Any] = {"title": "Input", "type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return params, schema, enums


def _unwrap_annotated(annotation: Any) -> tuple[Any, Input | None]:
    if typing.get_origin(annotation) is typing.Annotated:
        base, *extras = typing.get_args(annotation)
        found = [_as_input(x) for x in extras if isinstance(x, Input) or _is_foreign_input(x)]
        return base, (found[0] if found else None)
    return annotation, None


def _is_foreign_input(value: Any) -> bool:
    """A `cog.Input(...)` (a pydantic FieldInfo or cog's own record), recognised by duck typing."""
    module = type(value).__module__ or ""
    return module.split(".")[0] in ("cog", "pydantic") and hasattr(value, "default")


def _as_input(default: Any) -> Input:
    """The parameter's default as an `Input` (plain defaults, ours, or Cog's `Input`)."""
    if isinstance(default, Input):
        return default
    if default is inspect.Parameter.empty:
        return Input()
    if not _is_foreign_input(default):
        return Input(default=default)
    extra = {
        **(getattr(default, "extra", None) or {}),
        **(getattr(default, "json_schema_extra", None) or {}),
    }
    for item in getattr(default, "metadata", None) or ():  # pydantic v2 annotated_types
        for key, attr in (
            ("ge", "ge"),
            ("le", "le"),
            ("min_length", "min_length"),
            ("max_length", "max_length"),
            ("regex", "pattern"),
        ):
            if getattr(item, attr, None) is not None:
                extra.setdefault(key, getattr(item, attr))

    def pick(key: str, *aliases: str) -> Any:
        for attr in (key, *aliases):
            value = getattr(default, attr, None)
            if value is not None and not callable(value):
                return value
            if extra.get(attr) is not None:
                return extra[attr]
        return None

    value = default.default
    plain = value is Ellipsis or type(value).__name__ == "PydanticUndefinedType"
    return Input(
        default=cog_schema.MISSING if plain else value,
        description=pick("description"),
        ge=pick("ge"),
        le=pick("le"),
        min_length=pick("min_length"),
        max_length=pick("max_length"),
        regex=pick("regex", "pattern"),
        choices=pick("choices"),
        deprecated=pick("deprecated"),
    )


def _property(
    name: str, annotation: Any, info: Input, where: str
) -> tuple[dict[str, Any], Param, dict[str, Any] | None, bool]:
    """A property's type part, its runtime conversion, its enum component, and nullability."""
    nullable = False
    if _is_union(annotation):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        nullable = len(members) < len(typing.get_args(annotation))
        if len(members) > 1:
            variants = [_primitive(m, f"{where} (a Union member)", union=True) for m in members]
            if nullable:
                variants = [{**v, "nullable": True} for v in variants]
            return (
                {"title": _title(name), "anyOf": variants},
                Param(name, "plain", False, None, None),
                None,
                nullable,
            )
        annotation = members[0]
    if info.default is None and _is_secret(annotation):
        nullable = True  # Cog treats `Secret = Input(default=None)` as an optional credential
    choices = list(info.choices) if info.choices is not None else None
    if typing.get_origin(annotation) is typing.Literal:
        if choices is not None:
            raise TypeError(
                f"{where}: give the choices once, as Literal[...] or Input(choices=...), not both"
            )
        choices = list(typing.get_args(annotation))
        kinds = {type(c) for c in choices}
        if len(kinds) != 1 or kinds.pop() not in (str, int, float):
            raise TypeError(
                f"{where}: Literal choices must all be str, all int or all float, got {choices!r}"
            )
        annotation = type(choices[0])
    many = typing.get_origin(annotation) in (list, cabc.Sequence) or annotation is list
    item = (typing.get_args(annotation) or (Any,))[0] if many else annotation
    fragment = _primitive(item, where, union=False)
    kind = _kind(item)
    param = Param(name, kind, many, item if kind in ("path", "secret") else None, None)
    if many:
        fragment = {"type": "array", "items": fragment}
    if choices is None:
        return {"title": _title(name), **fragment}, param, None, nullable
    if many or fragment.get("type") not in ("string", "integer", "number"):
        raise TypeError(f"{where}: choices apply to str, int or float inputs, not {item!r}")
    python_types: dict[str, type | tuple[type, ...]] = {
        "string": str,
        "integer": int,
        "number": (int, float),
    }
    python_type = python_types[fragment["type"]]
    wrong = [c for c in choices if not isinstance(c, python_type) or isinstance(c, bool)]
    if wrong or not choices:
        raise TypeError(
            f"{where}: choices {choices!r} do not all match the type "
            f"{fragment['type']}; make them the parameter's type"
        )
    enum = {
        "title": name,
        "description": "An enumeration.",
        "enum": choices,
        "type": fragment["type"],
    }
    return {"allOf": [{"$ref": f"#/components/schemas/{name}"}]}, param, enum, nullable


def _is_union(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


def _is_secret(annotation: Any) -> bool:
    return inspect.isclass(annotation) and (
        issubclass(annotation, Secret)
        or (annotation.__name__ == "Secret" and annotation.__module__.split(".")[0] == "cog")
    )


def _is_path(annotation: Any) -> bool:
    return inspect.isclass(annotation) and issubclass(annotation, PurePath)


def _kind(annotation: Any) -> str:
    if _is_path(annotation):
        return "path"
    if _is_secret(annotation):
        return "secret"
    return "float" if annotation is float else "plain"


def _primitive(annotation: Any, where: str, *, union: bool) -> dict[str, Any]:
    if annotation in _PRIMITIVES and not (union and annotation in (Any, dict)):
        return dict(_PRIMITIVES[annotation])
    if not union and typing.get_origin(annotation) is dict:
        return {"type": "object"}
    if _is_path(annotation) and not union:
        return {"type": "string", "format": "uri"}
    if _is_secret(annotation) and not union:
        return dict(_SECRET)
    allowed = "str, int, float or bool" if union else _SUPPORTED
    raise TypeError(f"{where}: type {_name(annotation)} is not supported; use {allowed}")


def _constraints(info: Input, param: Param, prop: dict[str, Any], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if info.description is not None:
        out["description"] = info.description
    json_type = prop.get("type")
    numeric = json_type in ("integer", "number") or "allOf" in prop
    for key, bound in (("minimum", info.ge), ("maximum", info.le)):
        if bound is not None:
            if not numeric or param.many:
                raise TypeError(f"{where}: ge/le apply to int and float inputs")
            out[key] = bound
    for key, limit in (
        ("minLength", info.min_length),
        ("maxLength", info.max_length),
        ("pattern", info.regex),
    ):
        if limit is not None:
            if json_type != "string" or param.kind != "plain":
                raise TypeError(f"{where}: min_length, max_length and regex apply to str inputs")
            out[key] = limit
    if info.regex is not None:
        try:
            re.compile(info.regex)
        except re.error as exc:
            raise ValueError(f"{where}: regex {info.regex!r} does not compile ({exc})") from exc
    if info.deprecated:
        out["deprecated"] = True
    return out


def _output(annotation: Any, streams: bool, label: str) -> dict[str, Any]:
    where = f"the return type of {label}"
    origin = typing.get_origin(annotation) or annotation
    concatenate = getattr(origin, "__name__", "") in (
        "ConcatenateIterator",
        "AsyncConcatenateIterator",
    )
    if (
        streams
        and not concatenate
        and origin not in _ITERATORS
        and annotation is not inspect.Signature.empty
    ):
        raise TypeError(
            f"{where}: a generator's return type is Iterator[T] or "
            f"ConcatenateIterator[str] (or leave it out), not {_name(annotation)}"
        )
    if concatenate or origin in _ITERATORS or streams:
        args = typing.get_args(annotation)
        items = _output_type(args[0], where) if args else {"type": "object"}
        schema = {"type": "array", "items": items, "x-cog-array-type": "iterator"}
        if concatenate:
            if items != {"type": "string"}:
                raise TypeError(
                    f"{where}: ConcatenateIterator streams text; write ConcatenateIterator[str]"
                )
            schema["x-cog-array-display"] = "concatenate"
        return {**schema, "title": "Output"}
    if annotation is inspect.Signature.empty:
        return {"type": "object", "title": "Output"}
    return {**_output_type(annotation, where), "title": "Output"}


def _output_type(annotation: Any, where: str) -> dict[str, Any]:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if _is_union(annotation):
        raise TypeError(
            f"{where}: Optional and Union outputs are not supported (as in Cog); "
            "always return the same type"
        )
    if annotation is bytes or _is_path(annotation):
        return {"type": "string", "format": "uri"}
    if annotation in (list, tuple) or origin in (list, tuple, cabc.Sequence):
        return {
            "type": "array",
            "items": _output_type(args[0], where) if args else {"type": "object"},
        }
    if origin is dict and len(args) == 2:
        return {"type": "object", "additionalProperties": _output_type(args[1], where)}
    if dataclasses.is_dataclass(annotation):
        hints = typing.get_type_hints(annotation)
        fields = dataclasses.fields(annotation)
        props = {
            f.name: {**_output_type(hints[f.name], where), "title": _title(f.name)} for f in fields
        }
        needed = [
            f.name
            for f in fields
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ]
        return {"type": "object", "properties": props, **({"required": needed} if needed else {})}
    return _primitive(annotation, where, union=False)


def _check_defaults(document: dict[str, Any], label: str) -> None:
    """Every default must pass its own field's validation (bounds, choices, pattern, type)."""
    parsed = cog_schema.parse(document)
    defaults = {f.name: f.default for f in parsed.fields if f.has_default}
    problems = [p for p in parsed.validate(defaults) if p.type != "required"]
    if problems:
        name = problems[0].field.removeprefix("input.").split(".")[0]
        raise ValueError(
            f"parameter {name!r} of {label}: its default {defaults.get(name)!r} is "
            f"invalid ({problems[0].description}); change the default or the "
            "constraint"
        )


def _title(name: str) -> str:
    return name.replace("_", " ").title()


def _name(annotation: Any) -> str:
    if typing.get_args(annotation) or not hasattr(annotation, "__name__"):
        return repr(annotation).replace("typing.", "")
    return annotation.__name__
