"""The code snippet: valid Python, only what is sent, files opened, secrets asked for, runnable."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from replicate_nb.connection import connect, disconnect
from replicate_nb.forms.codegen import literal, snippet

SDXL = "stability-ai/sdxl"
SDXL_VERSION = "7762fd07cf82c948538e41f63f77d685e02b063e37e496e96eefd46c929f9bdc"
ESRGAN = "nightmareai/real-esrgan"


@pytest.mark.parametrize(
    "value",
    [
        "plain",
        'quote " and \\ backslash',
        "line\nbreak\ttab",
        "unicode ·é😀",
        "\x00\x1f",
        0,
        -3,
        2.5,
        1e-9,
        True,
        False,
        None,
        [1, "a", None],
        {"k": [True, {"n": 1.5}]},
        [],
        {},
    ],
)
def test_literal_is_python_for_the_same_value(value):
    assert eval(literal(value)) == value


def test_snippet_lists_inputs_in_order_and_pins_the_version():
    code = snippet({"prompt": "a cat", "seed": 7}, model=SDXL, version=SDXL_VERSION)
    assert code == (
        "import replicate\n\n"
        "output = replicate.run(\n"
        f'    "{SDXL}:{SDXL_VERSION}",\n'
        "    input={\n"
        '        "prompt": "a cat",\n'
        '        "seed": 7,\n'
        "    },\n"
        ")\n"
        "print(output)\n"
    )


def test_snippet_opens_uploaded_files_in_a_with_block_and_asks_for_secrets():
    code = snippet(
        {"image": "data:image/png;base64,AAAA", "api_key": "s3cret"},
        model="me/model",
        files={"image": "cat.png"},
        secrets={"api_key"},
    )
    assert 'with open("cat.png", "rb") as image_file:\n    output = replicate.run(' in code
    assert '            "image": image_file,' in code
    assert '"api_key": getpass("api_key: "),' in code
    assert "from getpass import getpass" in code
    assert "s3cret" not in code and "AAAA" not in code
    compile(code, "<snippet>", "exec")


def test_snippet_for_official_model_runs_by_name_and_joins_text():
    code = snippet({"prompt": "hi"}, model="meta/meta-llama-3-8b-instruct", joins_text=True)
    assert '"meta/meta-llama-3-8b-instruct",' in code
    assert code.endswith('print("".join(output))\n')


def test_snippet_for_a_bare_version_uses_predictions_create():
    code = snippet({}, version=SDXL_VERSION)
    assert f'version="{SDXL_VERSION}",' in code
    assert "input={}," in code and "prediction.wait()" in code
    compile(code, "<snippet>", "exec")


def test_snippet_for_a_bare_schema_says_to_name_the_model():
    code = snippet({"x": 1})
    assert '"owner/name",' in code and "bare schema" in code
    compile(code, "<snippet>", "exec")


def test_snippet_runs_against_the_sandbox_with_a_file(tmp_path, monkeypatch, capsys):
    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), "red").save(buffer, "PNG")
    (tmp_path / "cat.png").write_bytes(buffer.getvalue())
    monkeypatch.chdir(tmp_path)
    client = connect(backend="sandbox")
    try:
        version = client.models.get(ESRGAN).latest_version.id
        code = snippet(
            {"image": "data:…", "scale": 2},
            model=ESRGAN,
            version=version,
            files={"image": "cat.png"},
        )
        exec(compile(code, "<snippet>", "exec"), {})
    finally:
        disconnect()
    printed = capsys.readouterr().out
    assert printed.startswith("data:image/png;base64,")
