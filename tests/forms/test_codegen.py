"""The code snippet: valid Python, only what is sent, files opened, secrets asked for, runnable."""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from PIL import Image

from replicate_nb.connection import connect, disconnect
from replicate_nb.forms import form
from replicate_nb.forms.codegen import Call, literal, snippet

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
    code = snippet(Call({"prompt": "a cat", "seed": 7}, model=SDXL, version=SDXL_VERSION))
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
        Call(
            {"image": "data:image/png;base64,AAAA", "api_key": "s3cret"},
            model="me/model",
            files={"image": "cat.png"},
            secrets={"api_key"},
        )
    )
    assert 'with open("cat.png", "rb") as image_file:\n    output = replicate.run(' in code
    assert '            "image": image_file,' in code
    assert '"api_key": getpass("api_key: "),' in code
    assert "from getpass import getpass" in code
    assert "s3cret" not in code and "AAAA" not in code
    compile(code, "<snippet>", "exec")


def test_snippet_for_official_model_runs_by_name_and_joins_text():
    code = snippet(Call({"prompt": "hi"}, model="meta/meta-llama-3-8b-instruct", joins_text=True))
    assert '"meta/meta-llama-3-8b-instruct",' in code
    assert code.endswith('print("".join(output))\n')


def test_snippet_for_a_bare_version_uses_predictions_create():
    code = snippet(Call({}, version=SDXL_VERSION))
    assert f'version="{SDXL_VERSION}",' in code
    assert "input={}," in code and "prediction.wait()" in code
    compile(code, "<snippet>", "exec")


def test_snippet_for_a_bare_schema_says_to_name_the_model():
    code = snippet(Call({"x": 1}))
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
            Call(
                {"image": "data:…", "scale": 2},
                model=ESRGAN,
                version=version,
                files={"image": "cat.png"},
            )
        )
        exec(compile(code, "<snippet>", "exec"), {})
    finally:
        disconnect()
    printed = capsys.readouterr().out
    assert printed.startswith("data:image/png;base64,")


JS_DIR = Path(__file__).resolve().parents[1] / "js"


def test_all_three_code_tabs_make_the_same_prediction_as_the_form(fresh_sb, make_client, tmp_path):
    """Python (official client), JavaScript (official client, node) and cURL, each run as a
    learner would run it, against the sandbox: each makes one prediction whose output is the
    form's own (same input, same seed)."""
    client = make_client(fresh_sb.base_url)
    image = tmp_path / "cat.png"
    buffer = io.BytesIO()
    Image.new("RGB", (16, 12), "red").save(buffer, "PNG")
    image.write_bytes(buffer.getvalue())

    async def run_form():
        f = form(f"{SDXL}:{SDXL_VERSION}", client=client)
        f.set(prompt="a fox's den", seed=5, width=64, height=64, image=image)
        return f, await f.submit()

    f, made = asyncio.run(run_form())
    assert made.status == "succeeded"
    env = {**os.environ, "REPLICATE_API_TOKEN": "sandbox", "REPLICATE_BASE_URL": fresh_sb.base_url}
    script = JS_DIR / f"_snippet_{uuid.uuid4().hex[:8]}.mjs"
    script.write_text(f.code("JavaScript"))
    try:
        runs = {
            "Python": [sys.executable, "-c", f.code("Python")],
            "JavaScript": [shutil.which("node") or "node", str(script)],
            "HTTP": ["bash", "-c", f.code("HTTP")],
        }
        for language, command in runs.items():
            done = subprocess.run(
                command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
            )
            assert done.returncode == 0, (language, done.stderr[-2000:])
    finally:
        script.unlink()
    predictions = client.predictions.list().results
    assert len(predictions) == 4  # the form's and one per tab
    for prediction in predictions:
        full = client.predictions.get(prediction.id)
        assert full.status == "succeeded" and full.output == made.output, prediction.id
        assert full.input["seed"] == 5 and full.input["prompt"] == "a fox's den"
    for language in ("Python", "JavaScript", "HTTP"):
        code = f.code(language)
        assert "sandbox" not in code.replace("sandbox/", "")  # no token, no secret
        assert '"width": 256' not in code and "guidance_scale" not in code  # defaults unsent
