"""Read Cog version schemas: input fields, output kind, and input validation.

This is the one place that understands a version's `openapi_schema` as Cog generates it
(enums behind `allOf`/`$ref`, `anyOf` unions, `nullable`, `x-order`, `x-cog-*` extensions). The
sandbox validates prediction inputs with it, producing Replicate's 422 `invalid_fields` (worded by
`schema_errors`), and fills defaults; the form generator picks widgets from `InputSchema.fields`.
Nothing here knows widgets or HTTP. Treat a parsed schema dict as immutable: `parse` caches by
object identity.
"""

from __future__ import annotations

import copy
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, TypeGuard

from replicate_nb._jsonschema import jsonschema
from replicate_nb._terms import SECRET_MASK
from replicate_nb.schema_errors import InvalidField, invalid_fields, not_an_object, null_input

_REF_PREFIX = "#/components/schemas/"
_DEFAULT_ORDER = 999
_LONG_TEXT_WORDS = ("prompt", "template", "system", "text")
_URI_SCHEMES = ("http:", "https:", "data:")
_COMBINERS = ("$ref", "allOf", "anyOf", "oneOf")
_DATA_KEYS = frozenset({"default", "enum", "const", "example", "examples"})
_LEGACY_BOUNDS = {"ge": "minimum", "le": "maximum"}  # pydantic v1 extras in old Cog schemas


class _Missing:
    """Type of `MISSING`: falsy, and copies or unpickles to the same object."""

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


@dataclass(frozen=True)
class Field:
    """One model input, resolved so callers never chase `$ref`s.

    `kind` is one of "enum", "boolean", "integer", "number", "string", "uri", "secret" or "json"
    (arrays, objects, unions); `type` is the JSON type after resolution (None for unions).
    `default` is `MISSING` when there is none, including Cog's `default: null` ("decided at run
    time"). `order` is `x-order` (999 when missing); `schema` is the merged property schema.
    """

    name: str
    title: str
    description: str
    kind: str
    type: str | None
    default: Any
    required: bool
    nullable: bool
    order: int
    minimum: float | int | None
    maximum: float | int | None
    min_length: int | None
    max_length: int | None
    pattern: str | None
    choices: tuple | None
    accept: str | None
    deprecated: bool
    schema: dict

    @property
    def is_long_text(self) -> bool:
        """Whether a string field is likely multi-line (prompts, templates, long limits)."""
        if self.kind != "string":
            return False
        words = f"{self.name} {self.title}".lower()
        return (
            any(word in words for word in _LONG_TEXT_WORDS)
            or (isinstance(self.default, str) and "\n" in self.default)
            or (self.max_length or 0) > 200
        )

    @property
    def has_default(self) -> bool:
        """Whether leaving the field out means a known value is used."""
        return self.default is not MISSING

    @property
    def is_secret(self) -> bool:
        """Whether the value is a credential (a `Secret`, or a list of them) only the model sees."""
        return self.kind == "secret" or (
            self.type == "array" and _is_secret(self.schema.get("items"))
        )


@dataclass(frozen=True)
class OutputSpec:
    """Shape of a version's output, so clients know whether to stream or fetch files."""

    schema: dict
    is_iterator: bool
    is_concatenate: bool
    is_file: bool
    is_file_list: bool


_FORMATS = jsonschema.FormatChecker(formats=())


@_FORMATS.checks("uri")
def _is_uri_value(value: object) -> bool:
    return not isinstance(value, str) or value.lower().startswith(_URI_SCHEMES)


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _coerce_enum(values: list, json_type: Any) -> list:
    """Convert enum values to the declared type when all convert (fusedream: "512" as integer)."""
    convert = {"integer": int, "number": float, "string": str}.get(json_type)
    if convert is None or all(isinstance(v, convert) and not isinstance(v, bool) for v in values):
        return values
    try:
        coerced = [convert(v) for v in values]
    except (TypeError, ValueError):
        return values
    if json_type == "number":
        coerced = [int(v) if v.is_integer() else v for v in coerced]
    same = all(str(a) == str(b) for a, b in zip(coerced, values, strict=True))
    return coerced if same else values


def _normalise(schema: dict) -> None:
    """Rewrite OpenAPI 3.0 / pydantic v1 spellings as JSON Schema 2020-12, in place."""
    types = schema.get("type")
    if isinstance(types, list):
        schema["nullable"] = schema.get("nullable") or "null" in types
        types = [t for t in types if t != "null"]
        schema["type"] = types[0] if len(types) == 1 else types
        if not types:
            del schema["type"]
    for old, new in _LEGACY_BOUNDS.items():
        if _is_number(schema.get(old)) and new not in schema:
            schema[new] = schema[old]
    for bound, exclusive in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        if isinstance(schema.get(exclusive), bool) and schema.pop(exclusive) and bound in schema:
            schema[exclusive] = schema.pop(bound)
    if isinstance(schema.get("items"), list):
        schema["prefixItems"] = schema.pop("items")
    if isinstance(schema.get("enum"), list):
        schema["enum"] = _coerce_enum(schema["enum"], schema.get("type"))
    if "default" in schema and schema["default"] is None:
        del schema["default"]


def _resolve(schema: Any, components: dict, seen: frozenset[str] = frozenset()) -> dict:
    """Merge `$ref`, `allOf` and single-member `anyOf`/`oneOf` into one schema, recursively.

    A `null` union member becomes `nullable: true`; a cyclic `$ref` is left in place.
    """
    if not isinstance(schema, dict):
        return {}
    out: dict = {}
    ref = schema.get("$ref")
    name = ref.removeprefix(_REF_PREFIX) if isinstance(ref, str) else ""
    if isinstance(ref, str) and ref.startswith(_REF_PREFIX) and name in components:
        cyclic = name in seen
        out.update(
            {"$ref": ref} if cyclic else _resolve(components[name], components, seen | {name})
        )
    for member in schema.get("allOf") or ():
        out.update(_resolve(member, components, seen))
    for key in ("anyOf", "oneOf"):
        raw = schema.get(key)
        union: list[Any] = raw if isinstance(raw, list) else []
        members = [m for m in union if not (isinstance(m, dict) and m.get("type") == "null")]
        if len(members) < len(union):
            out["nullable"] = True
        if len(members) == 1:
            out.update(_resolve(members[0], components, seen))
        elif members:
            out[key] = [_resolve(m, components, seen) for m in members]
    for key, value in schema.items():
        if key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            value = _resolve(value, components, seen)
        elif key in ("properties", "patternProperties") and isinstance(value, dict):
            value = {k: _resolve(v, components, seen) for k, v in value.items()}
        elif key == "prefixItems" and isinstance(value, list):
            value = [_resolve(v, components, seen) for v in value]
        if key not in _COMBINERS:
            out[key] = copy.deepcopy(value)
    _normalise(out)
    return out


def _rewrite_refs(node: Any, components: dict) -> Any:
    """Copy `node` with `#/components/schemas/X` refs as `#/$defs/X` (unknown refs dropped)."""
    if isinstance(node, list):
        return [_rewrite_refs(item, components) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key == "$ref" and isinstance(value, str):
            name = value.removeprefix(_REF_PREFIX)
            if value.startswith(_REF_PREFIX) and name in components:
                out[key] = f"#/$defs/{name}"
        else:
            keep = key in _DATA_KEYS  # values, not schemas
            out[key] = copy.deepcopy(value) if keep else _rewrite_refs(value, components)
    return out


def _is_secret(schema: Any) -> bool:
    return isinstance(schema, dict) and bool(
        schema.get("x-cog-secret") or schema.get("format") == "password"
    )


def _kind(schema: dict, json_type: str | None) -> str:
    if "enum" in schema:
        return "enum"
    if json_type in ("boolean", "integer", "number"):
        return json_type
    if json_type == "string":
        if _is_secret(schema):
            return "secret"
        return "uri" if schema.get("format") == "uri" else "string"
    return "json"


def _json_type(schema: dict) -> str | None:
    """The single JSON type of a resolved schema (inferred from an untyped enum), else None."""
    json_type = schema.get("type")
    if json_type is not None:
        return json_type if isinstance(json_type, str) else None
    names = {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}
    kinds = {names.get(type(v).__name__) for v in schema.get("enum") or ()}
    return kinds.pop() if len(kinds) == 1 else None


def _make_field(name: str, raw: Any, required: set[str], components: dict) -> Field:
    own = raw if isinstance(raw, dict) else {}
    schema = _resolve(own, components)
    json_type = _json_type(schema)
    description = own.get("description")
    if description is None and "enum" not in schema:  # skip Cog's "An enumeration."
        description = schema.get("description")
    order = schema.get("x-order")

    def bound(key: str) -> Any:
        value = schema.get(key)
        integral = json_type == "integer" or key.endswith("Length")
        if integral and isinstance(value, float) and value.is_integer():
            return int(value)
        return value if _is_number(value) else None

    def text(key: str) -> str | None:
        return schema[key] if isinstance(schema.get(key), str) else None

    return Field(
        name=name,
        title=str(own.get("title") or name.replace("_", " ").title()),
        description=str(description or ""),
        kind=_kind(schema, json_type),
        type=json_type,
        default=copy.deepcopy(schema.get("default", MISSING)),
        required=name in required,
        nullable=bool(schema.get("nullable")),
        order=int(order) if _is_number(order) else _DEFAULT_ORDER,
        minimum=bound("minimum"),
        maximum=bound("maximum"),
        min_length=bound("minLength"),
        max_length=bound("maxLength"),
        pattern=text("pattern"),
        choices=tuple(schema["enum"]) if isinstance(schema.get("enum"), list) else None,
        accept=text("x-cog-accept"),
        deprecated=bool(schema.get("deprecated")),
        schema=schema,
    )


def _is_legacy_cog(cog_version: str | None) -> bool:
    """Whether Replicate treats this version's array output as an iterator (cog < 0.3.9)."""
    if not cog_version:
        return False
    try:
        from packaging.version import InvalidVersion, Version
    except ImportError:  # simple X.Y.Z fallback
        match = re.match(r"v?(\d+)(?:\.(\d+))?(?:\.(\d+))?", cog_version.strip())
        return match is not None and tuple(int(p or 0) for p in match.groups()) < (0, 3, 9)
    try:
        return Version(cog_version) < Version("0.3.9")
    except InvalidVersion:
        return False


def _is_uri(s: Any) -> bool:
    return isinstance(s, dict) and s.get("type") == "string" and s.get("format") == "uri"


def _output_spec(components: dict, cog_version: str | None) -> OutputSpec:
    schema = _resolve(components.get("Output"), components)
    is_array = schema.get("type") == "array"
    if is_array and _is_legacy_cog(cog_version):
        schema["x-cog-array-type"] = "iterator"
    return OutputSpec(
        schema=schema,
        is_iterator=is_array and schema.get("x-cog-array-type") == "iterator",
        is_concatenate=is_array and schema.get("x-cog-array-display") == "concatenate",
        is_file=_is_uri(schema),
        is_file_list=is_array and _is_uri(schema.get("items")),
    )


class InputSchema:
    """Parsed view of a version's openapi_schema (build once, reuse; validation is compiled).

    Attributes:
        fields: inputs in display order (`x-order`, missing counts as 999, then name).
        output: the output's shape.
        json_schema: a standalone draft 2020-12 schema of the whole input object, with the
            components under `$defs` and `additionalProperties: false`.
    """

    def __init__(self, openapi_schema: dict, *, cog_version: str | None = None) -> None:
        components = (openapi_schema.get("components") or {}).get("schemas") or {}
        found = components.get("Input")
        raw_input: dict[str, Any] = found if isinstance(found, dict) else {}
        raw_props = raw_input.get("properties") or {}
        required = {n for n in raw_input.get("required") or () if n in raw_props}
        fields = [_make_field(n, s, required, components) for n, s in raw_props.items()]
        self.fields: list[Field] = sorted(fields, key=lambda f: (f.order, f.name))
        self.output: OutputSpec = _output_spec(components, cog_version)
        self.json_schema: dict = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "Input",
            "type": "object",
            "properties": {f.name: _rewrite_refs(f.schema, components) for f in self.fields},
            "required": [f.name for f in self.fields if f.required],
            "additionalProperties": False,
            "$defs": {name: _rewrite_refs(s, components) for name, s in components.items()},
        }
        self._by_name = {f.name: f for f in self.fields}
        self.secrets: frozenset[str] = frozenset(f.name for f in self.fields if f.is_secret)
        self._validator = jsonschema.Draft202012Validator(self.json_schema, format_checker=_FORMATS)

    def __repr__(self) -> str:
        return f"<InputSchema {[f.name for f in self.fields]}>"

    def field(self, name: str) -> Field:
        """The field called `name`; KeyError naming the known inputs otherwise."""
        try:
            return self._by_name[name]
        except KeyError:
            known = ", ".join(self._by_name) or "none"
            raise KeyError(f"unknown input {name!r}; known inputs: {known}") from None

    def validate(self, value: object) -> list[InvalidField]:
        """Every problem with a prediction's `input`, sorted by field then type ([] when valid)."""
        if not isinstance(value, dict):
            return [not_an_object(value)]
        nulls = {k for k, v in value.items() if v is None and k in self._by_name}
        found = {null_input(k) for k in nulls}
        for error in self._validator.iter_errors(value):
            if not (error.absolute_path and error.absolute_path[0] in nulls):
                found.update(invalid_fields(error, inputs=self._by_name, secrets=self.secrets))
        return sorted(found, key=lambda e: (e.field, e.type, e.description))

    def with_defaults(self, value: dict) -> dict:
        """A copy of `value` plus the defaults of the fields it leaves out (when they have one)."""
        out = dict(value)
        for f in self.fields:
            if f.name not in out and f.has_default:
                out[f.name] = copy.deepcopy(f.default)
        return out

    def redact(self, value: dict) -> dict:
        """A copy of `value` with each secret input's value (or list item) as `SECRET_MASK`."""
        return {
            k: (_mask(v) if k in self.secrets and v is not None else v) for k, v in value.items()
        }

    def secret_values(self, value: dict) -> list[str]:
        """The non-empty strings `value` passes in its secret inputs (to scrub them from text)."""
        found = [value.get(name) for name in self.secrets]
        items = [i for v in found for i in (v if isinstance(v, list) else [v])]
        return [i for i in items if isinstance(i, str) and i]


def _mask(value: Any) -> Any:
    return [SECRET_MASK for _ in value] if isinstance(value, list) else SECRET_MASK


_CACHE: OrderedDict[tuple[int, str | None], tuple[dict, InputSchema]] = OrderedDict()
_CACHE_LOCK = threading.Lock()


def parse(openapi_schema: dict, *, cog_version: str | None = None) -> InputSchema:
    """Parse a version's openapi_schema, reusing the result for the same dict object (LRU of 64)."""
    key = (id(openapi_schema), cog_version)
    with _CACHE_LOCK:
        hit = _CACHE.pop(key, None)
        if hit is None or hit[0] is not openapi_schema:
            hit = (openapi_schema, InputSchema(openapi_schema, cog_version=cog_version))
        _CACHE[key] = hit  # holding the dict keeps its id from being reused
        if len(_CACHE) > 64:
            _CACHE.popitem(last=False)
    return hit[1]
