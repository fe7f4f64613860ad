"""Tests for replicate_nb.schema: reading Cog schemas, validating inputs, describing outputs."""

from __future__ import annotations

import copy
import importlib.util
import json
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from replicate_nb.schema import (
    MISSING,
    Field,
    InputSchema,
    parse,
)
from replicate_nb.schema_errors import InvalidField

SAMPLES = Path(__file__).resolve().parent / "data" / "schemas"
SAMPLE_FILES = sorted(SAMPLES.glob("*.json"))


def load(prefix: str) -> dict:
    for path in SAMPLE_FILES:
        if path.name.startswith(prefix):
            return json.loads(path.read_text(encoding="utf-8"))
    raise FileNotFoundError(f"sample schema {prefix} not in {SAMPLES}")


def sample(prefix: str, **kwargs: Any) -> InputSchema:
    return InputSchema(load(prefix), **kwargs)


def make(
    properties: dict | None = None,
    required: list[str] | None = None,
    output: dict | None = None,
    **components: dict,
) -> dict:
    """A minimal openapi_schema as Cog would produce it."""
    inp: dict = {"type": "object", "title": "Input", "properties": properties or {}}
    if required is not None:
        inp["required"] = required
    schemas = {"Input": inp, "Output": output or {"type": "string", "title": "Output"}}
    return {"openapi": "3.0.2", "components": {"schemas": {**schemas, **components}}}


def one(props: dict, **kwargs: Any) -> Field:
    (name,) = props
    return InputSchema(make(props, **kwargs)).field(name)


# --- the real samples ---------------------------------------------------------------------------


def test_reference_samples_are_present():
    assert len(SAMPLE_FILES) >= 11


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: p.stem)
def test_every_sample_parses_in_x_order(path: Path):
    schema = InputSchema(json.loads(path.read_text(encoding="utf-8")))
    assert schema.fields, "every sample has inputs"
    keys = [(f.order, f.name) for f in schema.fields]
    assert keys == sorted(keys)
    assert all(
        f.kind in {"enum", "boolean", "integer", "number", "string", "uri", "secret", "json"}
        for f in schema.fields
    )
    jsonschema.Draft202012Validator.check_schema(schema.json_schema)
    assert "#/components/" not in json.dumps(schema.json_schema)


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: p.stem)
def test_sample_defaults_only_miss_required_fields_without_default(path: Path):
    schema = InputSchema(json.loads(path.read_text(encoding="utf-8")))
    expected = sorted(f.name for f in schema.fields if f.required and not f.has_default)
    errors = schema.validate(schema.with_defaults({}))
    assert [e.type for e in errors] == ["required"] * len(expected)
    assert sorted(e.description.removesuffix(" is required") for e in errors) == expected
    assert all(e.field == "input" for e in errors)


def test_sdxl_field_order_follows_x_order():
    names = [f.name for f in sample("stability-ai__sdxl").fields]
    assert names[:10] == [
        "prompt",
        "negative_prompt",
        "image",
        "mask",
        "width",
        "height",
        "num_outputs",
        "scheduler",
        "num_inference_steps",
        "guidance_scale",
    ]


def test_sdxl_scheduler_is_enum_resolved_through_allof_ref():
    f = sample("stability-ai__sdxl").field("scheduler")
    assert f.kind == "enum" and f.type == "string"
    assert f.choices == (
        "DDIM",
        "DPMSolverMultistep",
        "HeunDiscrete",
        "KarrasDPM",
        "K_EULER_ANCESTRAL",
        "K_EULER",
        "PNDM",
    )
    assert f.default == "K_EULER"
    assert f.title == "Scheduler"  # derived, not the component's lowercase title
    assert f.description == "scheduler"
    assert "allOf" not in f.schema and "$ref" not in f.schema


def test_sdxl_field_kinds():
    schema = sample("stability-ai__sdxl")
    image, seed, watermark = (schema.field(n) for n in ("image", "seed", "apply_watermark"))
    assert (image.kind, image.type, image.has_default) == ("uri", "string", False)
    assert (seed.kind, seed.required, seed.default) == ("integer", False, MISSING)
    assert not seed.has_default
    assert (watermark.kind, watermark.default) == ("boolean", True)
    steps = schema.field("num_inference_steps")
    assert (steps.minimum, steps.maximum, steps.default) == (1, 500, 50)
    assert schema.field("prompt").is_long_text and schema.field("negative_prompt").is_long_text
    assert not schema.field("replicate_weights").is_long_text


def test_sdxl_output_is_file_list():
    out = sample("stability-ai__sdxl").output
    assert out.is_file_list and not out.is_file
    assert not out.is_iterator and not out.is_concatenate


def test_llama_output_is_concatenate_iterator():
    out = sample("meta__meta-llama-3-8b-instruct").output
    assert out.is_iterator and out.is_concatenate
    assert not out.is_file and not out.is_file_list


def test_embeddings_output_is_neither_iterator_nor_files():
    out = sample("andreasjansson__llama-2-13b-embeddings").output
    assert out.schema["type"] == "array"
    assert not (out.is_iterator or out.is_concatenate or out.is_file or out.is_file_list)


def test_embeddings_multiline_default_is_long_text():
    f = sample("andreasjansson__llama-2-13b-embeddings").field("prompt_separator")
    assert f.default == "\n\n" and f.is_long_text


def test_whisper_output_is_object():
    out = sample("openai__whisper").output
    assert out.schema["type"] == "object"
    assert "txt_file" in out.schema["properties"]
    assert not (out.is_iterator or out.is_file or out.is_file_list)


def test_voice_cloning_output_is_single_file():
    out = sample("zsxkib__realistic-voice-cloning").output
    assert out.is_file and not out.is_file_list


def test_fusedream_inline_enum_is_coerced_to_its_declared_integer_type():
    schema = sample("gnobitab__fusedream")
    f = schema.field("model_size")
    assert (f.kind, f.type, f.choices, f.default) == ("enum", "integer", (512, 256), 512)
    assert schema.field("sentence").title == "Sentence"  # no title in the schema
    assert schema.field("sentence").description == ""
    assert schema.validate({"model_size": 256}) == []
    assert [e.type for e in schema.validate({"model_size": 128})] == ["enum"]


def test_stable_diffusion_integer_enum_keeps_int_choices():
    schema = sample("stability-ai__stable-diffusion")
    width = schema.field("width")
    assert width.kind == "enum" and width.type == "integer"
    assert width.choices[:3] == (64, 128, 192) and all(type(c) is int for c in width.choices)
    assert schema.validate({"width": 512}) == []
    assert [e.type for e in schema.validate({"width": "512"})] == ["enum", "type"]


def test_flux_string_number_enum_stays_string():
    f = sample("black-forest-labs__flux-schnell").field("megapixels")
    assert f.choices == ("1", "0.25") and f.default == "1"


def test_flux_float_bounds_on_integer_field_become_ints():
    f = sample("black-forest-labs__flux-schnell").field("num_inference_steps")
    assert f.maximum == 4 and type(f.maximum) is int


def test_latent_consistency_null_defaults_mean_no_default_and_ge_le_are_bounds():
    schema = sample("fofr__latent-consistency-model")
    assert schema.field("seed").default is MISSING
    assert schema.field("image").default is MISSING
    assert "seed" not in schema.with_defaults({})
    images = schema.field("num_images")
    assert (images.minimum, images.maximum) == (1, 50)
    (error,) = schema.validate({"num_images": 51})
    assert (error.type, error.description) == (
        "number_lte",
        "Must be less than or equal to 50 (got 51)",
    )


# --- hand-written schemas ----------------------------------------------------------------------


def test_anyof_union_is_json_kind_and_validates_members():
    props = {"value": {"anyOf": [{"type": "string"}, {"type": "number"}], "x-order": 0}}
    schema = InputSchema(make(props))
    f = schema.field("value")
    assert (f.kind, f.type) == ("json", None)
    assert schema.validate({"value": "a"}) == [] and schema.validate({"value": 1.5}) == []
    (error,) = schema.validate({"value": [1]})
    assert error.type == "anyOf" and error.field == "input.value"
    assert error.description == "Must be a string or a number (got [1])"


def test_single_non_null_anyof_resolves_to_member():
    f = one({"n": {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "null"}], "title": "N"}})
    assert (f.kind, f.type, f.nullable, f.minimum, f.required) == (
        "integer",
        "integer",
        True,
        1,
        False,
    )
    assert "anyOf" not in f.schema


def test_anyof_ref_to_enum_with_null_resolves_to_enum():
    props = {"mode": {"anyOf": [{"$ref": "#/components/schemas/mode"}, {"type": "null"}]}}
    mode = {"title": "mode", "description": "An enumeration.", "enum": ["a", "b"], "type": "string"}
    schema = InputSchema(make(props, mode=mode))
    f = schema.field("mode")
    assert (f.kind, f.choices, f.nullable, f.description) == ("enum", ("a", "b"), True, "")
    assert [e.type for e in schema.validate({"mode": "c"})] == ["enum"]


def test_bare_ref_is_resolved():
    props = {"size": {"$ref": "#/components/schemas/size", "x-order": 0}}
    schema = InputSchema(make(props, size={"type": "integer", "enum": [1, 2]}))
    assert schema.field("size").choices == (1, 2)
    assert schema.json_schema["$defs"]["size"] == {"type": "integer", "enum": [1, 2]}


def test_nullable_optional_field_may_be_omitted_but_not_null():
    schema = InputSchema(make({"text": {"type": "string", "nullable": True, "title": "Text"}}))
    f = schema.field("text")
    assert f.nullable and not f.required and not f.has_default
    assert schema.validate({}) == []
    assert schema.validate({"text": None}) == [
        InvalidField(
            "type", "input.text", "null is not allowed; leave the input out to use the default"
        )
    ]


def test_null_for_enum_field_gives_one_clear_error():
    schema = sample("stability-ai__sdxl")
    errors = schema.validate({"scheduler": None})
    assert [(e.type, e.field) for e in errors] == [("type", "input.scheduler")]
    assert "leave the input out" in errors[0].description


def test_secret_field_kind():
    secret = {"type": "string", "format": "password", "writeOnly": True, "x-cog-secret": True}
    f = one({"token": {**secret, "default": None, "nullable": True}})
    assert (f.kind, f.default, f.nullable, f.required) == ("secret", MISSING, True, False)
    assert one({"key": {"type": "string", "format": "password"}}).kind == "secret"
    assert not f.is_long_text


def test_array_of_strings_is_json_and_items_are_checked():
    schema = InputSchema(make({"tags": {"type": "array", "items": {"type": "string"}}}))
    f = schema.field("tags")
    assert (f.kind, f.type) == ("json", "array")
    assert schema.validate({"tags": ["a", "b"]}) == []
    (error,) = schema.validate({"tags": ["a", 1]})
    assert (error.type, error.field) == ("type", "input.tags.1")


def test_array_of_files_uses_uri_format():
    schema = InputSchema(
        make({"files": {"type": "array", "items": {"type": "string", "format": "uri"}}})
    )
    assert schema.validate({"files": ["https://x/y.png", "data:,hi"]}) == []
    assert [e.field for e in schema.validate({"files": ["nope"]})] == ["input.files.0"]


def test_object_field_is_json_with_nested_errors():
    obj = {
        "type": "object",
        "properties": {"a": {"type": "integer"}},
        "required": ["a"],
        "additionalProperties": False,
    }
    schema = InputSchema(
        make(
            {"opts": obj, "weights": {"type": "object", "additionalProperties": {"type": "number"}}}
        )
    )
    assert (schema.field("opts").kind, schema.field("opts").type) == ("json", "object")
    assert schema.validate({"opts": {"a": 1}, "weights": {"x": 0.5}}) == []
    errors = schema.validate({"opts": {"b": 1}, "weights": {"x": "no"}})
    assert [(e.type, e.field, e.description) for e in errors] == [
        (
            "additional_property_not_allowed",
            "input.opts",
            "Additional property b is not allowed; known properties: a",
        ),
        ("required", "input.opts", "a is required"),
        ("type", "input.weights.x", "Must be a number (got 'no')"),
    ]


def test_integer_enum_via_allof():
    props = {
        "steps": {"allOf": [{"$ref": "#/components/schemas/steps"}], "default": 4, "x-order": 0}
    }
    steps = {
        "title": "steps",
        "description": "An enumeration.",
        "enum": [1, 2, 4],
        "type": "integer",
    }
    schema = InputSchema(make(props, steps=steps))
    f = schema.field("steps")
    assert (f.kind, f.type, f.choices, f.default, f.title) == (
        "enum",
        "integer",
        (1, 2, 4),
        4,
        "Steps",
    )
    assert f.description == ""  # not the component's "An enumeration."
    assert schema.json_schema["properties"]["steps"]["enum"] == [1, 2, 4]
    (error,) = schema.validate({"steps": 3})
    assert error == InvalidField("enum", "input.steps", "Does not match one of: 1, 2, 4 (got 3)")


def test_missing_order_title_and_description_have_fallbacks():
    props = {
        "zeta": {"type": "string"},
        "alpha_beta": {"type": "integer"},
        "first": {"type": "string", "x-order": 5},
    }
    schema = InputSchema(make(props))
    assert [f.name for f in schema.fields] == ["first", "alpha_beta", "zeta"]
    f = schema.field("alpha_beta")
    assert (f.order, f.title, f.description) == (999, "Alpha Beta", "")


def test_missing_input_means_no_inputs():
    schema = InputSchema({"openapi": "3.0.2", "components": {"schemas": {}}})
    assert schema.fields == [] and schema.validate({}) == []
    (error,) = schema.validate({"x": 1})
    assert error.description == "Additional property x is not allowed; known inputs: none"
    assert not schema.output.is_file and schema.output.schema == {}
    assert InputSchema({}).fields == []


def test_empty_properties():
    schema = InputSchema(make({}))
    assert schema.fields == [] and schema.json_schema["properties"] == {}
    assert schema.json_schema["additionalProperties"] is False


def test_string_constraints_accept_and_deprecated_are_exposed():
    props = {
        "code": {"type": "string", "minLength": 2, "maxLength": 300, "pattern": "^[a-z]+$"},
        "photo": {"type": "string", "format": "uri", "x-cog-accept": "image/*", "deprecated": True},
    }
    schema = InputSchema(make(props))
    code, photo = schema.field("code"), schema.field("photo")
    assert (code.min_length, code.max_length, code.pattern) == (2, 300, "^[a-z]+$")
    assert code.is_long_text  # max_length > 200
    assert (photo.kind, photo.accept, photo.deprecated) == ("uri", "image/*", True)
    assert not photo.is_long_text


def test_cyclic_component_refs_do_not_loop():
    node = {"type": "object", "properties": {"child": {"$ref": "#/components/schemas/Node"}}}
    schema = InputSchema(make({"tree": {"$ref": "#/components/schemas/Node"}}, Node=node))
    assert schema.field("tree").kind == "json"
    assert schema.validate({"tree": {"child": {"child": {}}}}) == []
    assert [e.field for e in schema.validate({"tree": {"child": {"child": 3}}})] == [
        "input.tree.child.child"
    ]


def test_with_defaults_fills_only_missing_fields_with_defaults():
    schema = InputSchema(
        make(
            {
                "a": {"type": "integer", "default": 1},
                "b": {"type": "array", "items": {"type": "string"}, "default": ["x"]},
                "c": {"type": "integer"},
            }
        )
    )
    given = {"a": 5}
    filled = schema.with_defaults(given)
    assert filled == {"a": 5, "b": ["x"]} and given == {"a": 5}
    filled["b"].append("y")
    assert schema.field("b").default == ["x"]


# --- validation messages --------------------------------------------------------------------------


def test_required_field_missing():
    schema = sample("black-forest-labs__flux-schnell")
    assert schema.validate({}) == [InvalidField("required", "input", "prompt is required")]


def test_each_missing_required_field_is_reported_once():
    props = {"b": {"type": "string"}, "a": {"type": "string"}, "c": {"type": "string"}}
    errors = InputSchema(make(props, required=["b", "a"])).validate({"c": "x"})
    assert [e.description for e in errors] == ["a is required", "b is required"]


def test_integral_float_lengths_become_ints():
    f = one({"s": {"type": "string", "maxLength": 10.0, "minLength": 1}})
    assert (f.max_length, f.min_length) == (10, 1) and type(f.max_length) is int


def test_type_errors_and_booleans_are_not_numbers():
    schema = sample("stability-ai__sdxl")
    errors = schema.validate({"width": "wide", "guidance_scale": True, "apply_watermark": "yes"})
    assert [(e.type, e.field, e.description) for e in errors] == [
        ("type", "input.apply_watermark", "Must be a boolean (got 'yes')"),
        ("type", "input.guidance_scale", "Must be a number (got true)"),
        ("type", "input.width", "Must be an integer (got 'wide')"),
    ]
    assert schema.validate({"width": 768.0, "guidance_scale": 3}) == []


def test_number_bounds_name_the_bound_and_value():
    schema = sample("black-forest-labs__flux-schnell")
    errors = schema.validate({"prompt": "p", "num_inference_steps": 7, "num_outputs": 0})
    assert errors == [
        InvalidField(
            "number_lte", "input.num_inference_steps", "Must be less than or equal to 4 (got 7)"
        ),
        InvalidField(
            "number_gte", "input.num_outputs", "Must be greater than or equal to 1 (got 0)"
        ),
    ]


def test_enum_error_lists_choices_and_value():
    (error,) = sample("stability-ai__sdxl").validate({"refine": "X"})
    assert error == InvalidField(
        "enum",
        "input.refine",
        "Does not match one of: no_refiner, expert_ensemble_refiner, base_image_refiner (got 'X')",
    )


def test_unknown_input_names_known_inputs():
    (error,) = sample("black-forest-labs__flux-schnell").validate({"prompt": "p", "promt": "q"})
    assert error.type == "additional_property_not_allowed" and error.field == "input"
    assert error.description.startswith(
        "Additional property promt is not allowed; known inputs: prompt, aspect_ratio, num_outputs,"
    )


def test_string_length_and_pattern_errors():
    props = {"code": {"type": "string", "minLength": 2, "maxLength": 4, "pattern": "^[a-z]+$"}}
    schema = InputSchema(make(props))
    assert schema.validate({"code": "abc"}) == []
    assert schema.validate({"code": "a"}) == [
        InvalidField(
            "string_gte", "input.code", "Must be at least 2 characters long (got 'a', 1 characters)"
        )
    ]
    errors = schema.validate({"code": "ABCDE"})
    assert [(e.type, e.description) for e in errors] == [
        ("pattern", "Must match the pattern ^[a-z]+$ (got 'ABCDE')"),
        ("string_lte", "Must be at most 4 characters long (got 'ABCDE', 5 characters)"),
    ]


def test_uri_inputs_need_a_url_or_data_uri():
    schema = sample("stability-ai__sdxl")
    for good in ("https://example.com/a.png", "http://x/y", "data:image/png;base64,AAAA"):
        assert schema.validate({"image": good}) == [], good
    for bad in ("foo.png", "", "/tmp/a.png"):
        errors = schema.validate({"image": bad})
        assert errors == [
            InvalidField("format", "input.image", f"Expected a URL or data: URI (got {bad!r})")
        ]


def test_non_dict_input_is_one_type_error():
    errors = sample("stability-ai__sdxl").validate(["prompt"])
    assert errors == [InvalidField("type", "input", 'Must be an object of inputs (got ["prompt"])')]


def test_every_error_is_reported_sorted_and_deterministic():
    schema = sample("stability-ai__sdxl")
    bad = {"width": "x", "num_outputs": 9, "scheduler": "X", "zzz": 1, "image": "f", "prompt": None}
    errors = schema.validate(bad)
    assert [e.field for e in errors] == [
        "input",
        "input.image",
        "input.num_outputs",
        "input.prompt",
        "input.scheduler",
        "input.width",
    ]
    assert errors == schema.validate(dict(reversed(bad.items())))


def test_long_values_are_shortened_in_messages():
    (error,) = sample("stability-ai__sdxl").validate({"image": "x" * 500})
    assert len(error.description) < 120 and error.description.endswith("…)")


def test_legacy_cog_array_output_is_iterator():
    schema = make(output={"type": "array", "items": {"type": "string"}})
    assert InputSchema(schema, cog_version="0.3.8").output.is_iterator
    assert InputSchema(schema, cog_version="0.3.8").output.schema["x-cog-array-type"] == "iterator"
    assert not InputSchema(schema, cog_version="0.3.9").output.is_iterator
    assert not InputSchema(schema).output.is_iterator
    assert not InputSchema(make(), cog_version="0.3.0").output.is_iterator  # string output


def test_invalid_cog_version_is_not_legacy():
    schema = make(output={"type": "array"})
    assert not InputSchema(schema, cog_version="dev").output.is_iterator
    assert InputSchema(schema, cog_version="0.2.0-beta1").output.is_iterator


def test_legacy_rule_without_packaging(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "packaging.version", None)
    schema = make(output={"type": "array"})
    assert InputSchema(schema, cog_version="v0.3.1").output.is_iterator
    assert not InputSchema(schema, cog_version="0.10.0").output.is_iterator
    assert not InputSchema(schema, cog_version="dev").output.is_iterator


def test_output_without_item_type_is_not_a_file_list():
    out = InputSchema(make(output={"type": "array", "x-cog-array-type": "iterator"})).output
    assert out.is_iterator and not out.is_file_list and not out.is_concatenate


def test_output_ref_is_resolved():
    schema = make(
        output={"$ref": "#/components/schemas/Result"}, Result={"type": "string", "format": "uri"}
    )
    assert InputSchema(schema).output.is_file


# --- API details ---------------------------------------------------------------------------------


def test_parse_reuses_result_for_same_schema_object():
    raw = load("stability-ai__sdxl")
    assert parse(raw) is parse(raw)
    assert parse(raw) is not parse(copy.deepcopy(raw))
    assert parse(raw, cog_version="0.3.8") is not parse(raw)


def test_field_lookup_error_names_known_inputs():
    schema = sample("black-forest-labs__flux-schnell")
    with pytest.raises(KeyError, match="known inputs: prompt, aspect_ratio"):
        schema.field("promt")


def test_missing_sentinel():
    assert repr(MISSING) == "MISSING" and not MISSING
    assert copy.deepcopy(MISSING) is MISSING and pickle.loads(pickle.dumps(MISSING)) is MISSING


def test_json_schema_is_standalone_with_defs():
    schema = sample("stability-ai__sdxl")
    js = schema.json_schema
    assert js["additionalProperties"] is False and js["type"] == "object"
    assert set(js["$defs"]) >= {"Input", "scheduler", "refine"}
    assert js["$defs"]["PredictionRequest"]["properties"]["input"]["$ref"] == "#/$defs/Input"
    validator = jsonschema.Draft202012Validator(js)
    assert validator.is_valid({"scheduler": "DDIM"}) and not validator.is_valid({"nope": 1})


def test_loading_skips_jsonschemas_iri_checker_and_leaves_it_importable():
    # rfc3987-syntax (installed with Jupyter) builds Earley parsers for seconds at import; no
    # input schema is checked for formats, so loading the schema module must not pay for it.
    if importlib.util.find_spec("rfc3987_syntax") is None:
        pytest.skip("rfc3987-syntax is not installed here")
    code = (
        "import sys, replicate_nb.schema_errors, replicate_nb.schema as s\n"
        "assert s.jsonschema.FormatChecker\n"
        "print('rfc3987_syntax' in sys.modules)\n"
        "import rfc3987_syntax\n"
        "print(rfc3987_syntax.is_valid_syntax('iri', 'https://example.com/a'))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True"]
