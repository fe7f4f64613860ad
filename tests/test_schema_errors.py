"""Replicate's wording for refused inputs: `invalid_fields` entries and the 422 detail text."""

from __future__ import annotations

import jsonschema

from replicate_nb.schema_errors import InvalidField, invalid_fields, problem_detail


def errors(schema: dict, value: object) -> list[jsonschema.ValidationError]:
    return list(jsonschema.Draft202012Validator(schema).iter_errors(value))


def test_invalid_fields_never_quote_a_secret_value():
    schema = {"type": "object", "properties": {"api_key": {"type": "string", "minLength": 40}}}
    [error] = errors(schema, {"api_key": "hunter2"})
    [shown] = invalid_fields(error, inputs=["api_key"], secrets=["api_key"])
    assert "hunter2" not in shown.description and "**********" in shown.description
    [plain] = invalid_fields(error, inputs=["api_key"], secrets=[])
    assert plain == InvalidField(
        "string_gte",
        "input.api_key",
        "Must be at least 40 characters long (got 'hunter2', 7 characters)",
    )


def test_an_unknown_input_lists_the_known_ones():
    schema = {"type": "object", "properties": {"prompt": {}}, "additionalProperties": False}
    [error] = errors(schema, {"promt": "x"})
    assert list(invalid_fields(error, inputs=["prompt", "seed"], secrets=())) == [
        InvalidField(
            "additional_property_not_allowed",
            "input",
            "Additional property promt is not allowed; known inputs: prompt, seed",
        )
    ]


def test_problem_detail_matches_replicate_format():
    invalid = [
        InvalidField("required", "input", "prompt is required"),
        InvalidField("number_lte", "input.num_inference_steps", "Must be less than or equal to 4"),
    ]
    assert problem_detail(invalid) == (
        "- input: prompt is required\n"
        "- input.num_inference_steps: Must be less than or equal to 4\n"
    )
    assert problem_detail([]) == ""
    assert invalid[1].to_json() == {
        "type": "number_lte",
        "field": "input.num_inference_steps",
        "description": "Must be less than or equal to 4",
    }


# --- output kinds and legacy cog -------------------------------------------------------------
