"""The replay format module: what is secret (through schema.parse) and how inputs are masked."""

from __future__ import annotations

import subprocess
import sys

from replicate_nb import replay_format

SCHEMA = {
    "openapi": "3.0.2",
    "components": {
        "schemas": {
            "Key": {"type": "string", "format": "password", "x-cog-secret": True},
            "Input": {
                "type": "object",
                "properties": {
                    "prompt": {"type": "string", "x-order": 0},
                    "api_key": {"allOf": [{"$ref": "#/components/schemas/Key"}], "x-order": 1},
                    "token": {
                        "anyOf": [{"type": "string", "x-cog-secret": True}, {"type": "null"}],
                        "x-order": 2,
                    },
                    "plain_ref": {"$ref": "#/components/schemas/Key"},
                    "steps": {"type": "integer"},
                },
            },
        }
    },
}


def test_secrets_behind_ref_all_of_and_any_of_are_found():
    assert replay_format.secret_fields(SCHEMA) == {"api_key", "token", "plain_ref"}


def test_masking_with_and_without_a_schema():
    value = {"prompt": "a cat", "api_key": "s3cret", "steps": 4, "image": {"$file_sha256": "ab"}}
    assert replay_format.mask_secrets(value, {"api_key"}) == {**value, "api_key": "[secure]"}
    assert replay_format.mask_secrets({**value, "tags": ["x", 1]}, None) == {
        "prompt": "[secure]",
        "api_key": "[secure]",
        "steps": 4,
        "image": {"$file_sha256": "ab"},
        "tags": ["[secure]", 1],
    }


def test_the_recorder_imports_nothing_of_the_sandbox():
    code = (
        "import sys, replicate_nb.recording\n"
        "print(sorted(m for m in sys.modules if m.startswith('replicate_nb.sandbox')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
