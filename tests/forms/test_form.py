"""ModelForm headless: building from any schema, value/errors rules, and Run/Cancel/Reset/Code
against the sandbox, each scenario inside its own `asyncio.run` (the form made in the loop)."""

from __future__ import annotations

import asyncio
import gc
import io
import json
from collections.abc import Callable
from pathlib import Path

import ipywidgets as w
import pytest
from IPython.lib.pretty import pretty
from ipywidgets.widgets.widget import _instances
from PIL import Image
from replicate.exceptions import ReplicateError
from replicate.prediction import Predictions

from replicate_nb.connection import connect, disconnect
from replicate_nb.errors import FormError, InvalidModelRef, ReplicateNbError
from replicate_nb.forms import ModelForm, form
from replicate_nb.forms.front import RunKeys
from replicate_nb.forms.private_fields import SecretField
from replicate_nb.inputs import Input, Secret
from replicate_nb.schema import parse

SCHEMAS = sorted((Path(__file__).parents[1] / "data" / "schemas").glob("*.json"))
SDXL_SCHEMA = json.loads(
    next(p for p in SCHEMAS if p.stem.startswith("stability-ai__sdxl")).read_text()
)
SDXL = "stability-ai/sdxl"
LLAMA = "meta/meta-llama-3-8b-instruct"
SENTINEL = "r8_SENTINELsecret0123456789"


@pytest.fixture(autouse=True)
def close_widgets():
    yield
    w.Widget.close_all()


def png(size=(8, 6)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, "teal").save(buffer, "PNG")
    return buffer.getvalue()


async def until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.01)):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached in time")


def every_widget_state() -> str:
    return json.dumps([widget.get_state() for widget in list(_instances.values())], default=str)


# building from any schema


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda p: p.stem)
def test_every_sample_schema_builds_a_form_whose_untouched_value_is_valid(path):
    schema = json.loads(path.read_text())
    f = ModelForm(schema)
    assert f.fields == [field.name for field in parse(schema).fields]
    missing = [
        field.name for field in parse(schema).fields if field.required and not field.has_default
    ]
    if not missing:
        assert f.errors == {}
        assert parse(schema).validate(f.value) == []
        return
    assert set(f.errors) == set(missing)
    assert f.errors[missing[0]] == f"{missing[0]} is required"
    with pytest.raises(FormError, match=f"not sent: {missing[0]} is required"):
        asyncio.run(f.submit())
    assert "not sent" in f.status.value


HAND_MADE = {
    "components": {
        "schemas": {
            "Input": {
                "type": "object",
                "required": ["size"],
                "properties": {
                    "size": {"allOf": [{"$ref": "#/components/schemas/size"}], "x-order": 0},
                    "words": {"type": "array", "items": {"type": "string"}, "x-order": 1},
                    "options": {"type": "object", "additionalProperties": {"type": "number"}},
                    "either": {"anyOf": [{"type": "string"}, {"type": "integer"}], "x-order": 2},
                    "maybe": {
                        "anyOf": [{"type": "integer", "minimum": 0}, {"type": "null"}],
                        "x-order": 3,
                    },
                    "token": {
                        "type": "string",
                        "format": "password",
                        "writeOnly": True,
                        "x-cog-secret": True,
                        "x-order": 4,
                    },
                    "plain": {"type": "boolean"},
                },
            },
            "size": {"title": "size", "enum": [256, 512], "type": "integer"},
        }
    }
}


def test_a_form_shares_styles_and_layouts_so_it_stays_cheap_to_build():
    # Every Style and Layout is a widget of its own (a comm, its state): the 43-input
    # disco-diffusion form built 321 widgets before its inputs shared them (benchmarks/forms.py).
    schema = json.loads(next(p for p in SCHEMAS if "disco-diffusion" in p.stem).read_text())
    w.Widget.close_all()
    f = ModelForm(schema)
    assert len(f.inputs) == 43
    assert len(_instances) <= 250, len(_instances)


def test_hand_made_schema_covers_unions_nullable_secret_enums_arrays_objects():
    f = ModelForm(HAND_MADE)
    assert f.fields == ["size", "words", "either", "maybe", "token", "options", "plain"]
    kinds = {name: type(widget.control).__name__ for name, widget in f.inputs.items()}
    assert kinds == {
        "size": "Dropdown",
        "words": "Textarea",
        "either": "Textarea",
        "maybe": "Text",
        "token": "Password",
        "options": "Textarea",
        "plain": "Dropdown",
    }
    assert f.errors == {"size": "size is required"}
    f.set(size=512, words=["a"], options={"k": 1.5}, either=3, maybe=2, token=SENTINEL, plain=True)
    assert f.errors == {}
    assert f.value == {
        "size": 512,
        "words": ["a"],
        "either": 3,
        "maybe": 2,
        "token": SENTINEL,
        "options": {"k": 1.5},
        "plain": True,
    }
    assert parse(HAND_MADE).validate(f.value) == []
    f.set(maybe=None, either=None)
    assert "maybe" not in f.value and "either" not in f.value


def test_repr_is_short_deterministic_and_the_widget_text_plain():
    f = ModelForm(HAND_MADE, model="me/model", version="0123456789abcdef")
    assert repr(f) == "ModelForm('me/model', 7 fields)"
    assert f._repr_mimebundle_()["text/plain"] == "ModelForm('me/model', 7 fields)"
    assert (
        repr(ModelForm(HAND_MADE, version="0123456789abcdef"))
        == "ModelForm('version 01234567', 7 fields)"
    )
    assert repr(ModelForm(HAND_MADE)) == "ModelForm('schema', 7 fields)"


# value and errors


def test_value_sends_required_changed_and_filled_in_fields_only():
    f = ModelForm(SDXL_SCHEMA)
    assert f.value == {}
    f.set(num_outputs=2, seed=7, prompt="a cat", refine="no_refiner")
    assert f.value == {"prompt": "a cat", "num_outputs": 2, "seed": 7}
    f.set(num_outputs=1, seed=None)  # back to the default, and blank again
    assert f.value == {"prompt": "a cat"}
    f.inputs["width"].entry.value = "1024.0"  # equal to the default, typed differently
    assert "width" not in f.value


def test_set_rejects_unknown_inputs_and_wrong_types():
    f = ModelForm(HAND_MADE, model="me/model")
    with pytest.raises(FormError, match="'colour': not an input of me/model; its inputs are size"):
        f.set(colour="red")
    with pytest.raises(FormError, match="size is one of 256, 512"):
        f.set(size="256")
    with pytest.raises(FormError, match="takes True or False"):
        f.set(plain="yes")
    assert issubclass(FormError, ReplicateNbError) and issubclass(FormError, ValueError)


def test_errors_appear_next_to_fields_and_leave_the_value():
    f = ModelForm(SDXL_SCHEMA)
    f.set(num_outputs=9)
    f.inputs["seed"].entry.value = "lots"
    f.inputs["high_noise_frac"].entry.value = "2"
    assert f.errors == {
        "num_outputs": "Must be less than or equal to 4 (got 9)",
        "seed": "'lots' is not a number",
        "high_noise_frac": "Must be less than or equal to 1 (got 2)",
    }
    assert "seed" not in f.value
    assert "Must be less than or equal to 4 (got 9)" in f.inputs["num_outputs"].head.value
    f.set(num_outputs=4)
    assert "Must be" not in f.inputs["num_outputs"].head.value


def test_json_parse_errors_are_form_errors():
    f = ModelForm(HAND_MADE)
    f.inputs["words"].control.value = '["a",'
    assert f.errors["words"].startswith("not valid JSON: Expecting value (line 1, column 6)")


def test_reset_button_restores_defaults():
    f = ModelForm(SDXL_SCHEMA)
    f.set(prompt="a dog", num_outputs=3, seed=5, apply_watermark=False)
    f.reset_button.click()
    assert f.value == {}
    assert f.inputs["prompt"].read() == "An astronaut riding a rainbow unicorn"
    assert f.inputs["num_outputs"].control.value == 1


def test_code_tabs_show_three_languages_highlighted_and_follow_edits():
    f = ModelForm(SDXL_SCHEMA, model=SDXL, version="abc")
    assert f._code_tabs is None  # built only once the Code tab is opened
    f.tabs.selected_index = 1
    views, copy = f.code_tabs.views, f.code_tabs.copy
    f.set(seed=11)
    assert f.code_tabs.get_title(0) == "Python" and list(views) == ["Python", "JavaScript", "HTTP"]
    for language in views:
        assert "11" in views[language].value and 'style="color' in views[language].value
        assert copy[language].text == f.code(language)
    assert '"seed": 11' in f.code("JavaScript") and '{"seed": 11}' in f.code("HTTP")
    assert f.code().splitlines() == [
        "import replicate",
        "",
        "output = replicate.run(",
        '    "stability-ai/sdxl:abc",',
        "    input={",
        '        "seed": 11,',
        "    },",
        ")",
        "print(output)",
    ]
    with pytest.raises(FormError, match="not 'Rust'"):
        f.code("Rust")


def test_problems_are_blamed_on_their_inputs():
    f = ModelForm(HAND_MADE)
    assert f._blame("input.maybe", "Must be an integer") == ("maybe", "Must be an integer")
    assert f._blame("input.words.0", "x") == ("words", "x")
    assert f._blame("input", "size is required") == ("size", "size is required")
    assert f._blame("input", "something else") == ("input", "something else")
    assert f._blame("input.token", "Must match x (got 'abc')") == ("token", "Must match x")


# making forms


def test_form_accepts_refs_models_versions_and_schemas(client):
    async def scenario():
        latest = form(SDXL, client=client)
        model = client.models.get(SDXL)
        pinned = form(f"{SDXL}:{model.latest_version.id}", client=client)
        by_model = form(model, client=client)
        by_version = form(model.latest_version, client=client)
        bare = form(model.latest_version.openapi_schema, client=client)
        official = form(LLAMA, client=client)
        return latest, pinned, by_model, by_version, bare, official, model.latest_version.id

    latest, pinned, by_model, by_version, bare, official, version = asyncio.run(scenario())
    assert (latest.model, latest.version) == (SDXL, version)
    assert (pinned.model, pinned.version) == (SDXL, version)
    assert (by_model.model, by_model.version) == (SDXL, version)
    assert (by_version.model, by_version.version) == (None, version)
    assert (bare.model, bare.version) == (None, None)
    assert (official.model, official.version) == (LLAMA, None)  # official: run by name
    assert "Sandbox stand-in" in latest.children[0].value


def test_form_rejects_bad_refs_and_types(client):
    with pytest.raises(InvalidModelRef, match="'sdxl' is not a model reference"):
        form("sdxl", client=client)
    with pytest.raises(FormError, match="not a int"):
        form(42, client=client)  # type: ignore[arg-type]


# running against the sandbox


def test_run_button_runs_and_shows_image_progress_logs_and_history(client):
    async def scenario():
        f = form(SDXL, client=client)
        f.set(prompt="a lighthouse", width=64, height=48)
        f.button.click()
        assert f.button.disabled  # at once, before the task runs
        prediction = await f.task
        return f, prediction

    f, prediction = asyncio.run(scenario())
    assert prediction.status == "succeeded" and f.last_prediction is prediction
    assert prediction.input == {"prompt": "a lighthouse", "width": 64, "height": 48}
    assert "succeeded" in f.status.value and prediction.id in f.status.value
    [bundle] = [o["data"] for o in f.output.outputs]
    assert '<img src="data:image/png;base64,' in bundle["text/html"]
    assert "64\N{MULTIPLICATION SIGN}48" in bundle["text/plain"]
    assert (f.progress.value, f.progress.description) == (1.0, "50/50")
    assert "Using seed:" in f.logs.value
    assert [run.prediction.id for run in f.history] == [prediction.id]
    assert f.history[0].seconds is not None and f.tabs.get_title(2) == "History (1)"
    [row] = f.history_view.children
    thumbnail, _load, label = row.children
    assert '<img src="data:image/png;base64,' in thumbnail.value
    assert f"{prediction.id}  succeeded" in label.value
    assert "generated in" in f.status.value
    assert not f.button.disabled and f.cancel_button.disabled


def test_language_model_text_streams_in_as_it_arrives(client):
    shown: list[str] = []

    async def scenario():
        f = form(LLAMA, client=client)
        show_text = f.view.show_text
        f.view.show_text = lambda value: (shown.append(value), show_text(value))
        f.set(prompt="Tell me about the ocean", max_tokens=300)
        return f, await f.submit()

    f, prediction = asyncio.run(scenario())
    assert prediction.status == "succeeded"
    assert len({len(text) for text in shown if text}) > 2  # grew in steps, not all at once
    assert "".join(prediction.output) in f.text.value.replace("&#x27;", "'")
    assert f.text.layout.display == "" and f.output.outputs == ()


def test_cancel_button_cancels_the_remote_prediction(client):
    async def scenario():
        f = form("sandbox/sleep", client=client)
        f.set(seconds=30)
        f.button.click()
        await until(
            lambda: f.last_prediction is not None and f.last_prediction.status == "processing"
        )
        f.cancel_button.click()
        return f, await f.task

    f, prediction = asyncio.run(scenario())
    assert prediction.status == "canceled"
    assert client.predictions.get(prediction.id).status == "canceled"
    assert "canceled" in f.status.value


def test_cancel_before_the_prediction_exists_still_cancels_it(client):
    async def scenario():
        f = form("sandbox/sleep", client=client)
        f.set(seconds=30)
        task = asyncio.ensure_future(f.submit())
        await asyncio.sleep(0)  # submit has started creating the prediction
        await f.cancel()
        return await task

    assert asyncio.run(scenario()).status == "canceled"


def test_cancelling_the_task_cancels_the_remote_prediction(client):
    async def scenario():
        f = form("sandbox/sleep", client=client)
        f.set(seconds=30)
        f.button.click()
        await until(lambda: f.last_prediction is not None)
        f.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await f.task
        return f.last_prediction.id

    assert client.predictions.get(asyncio.run(scenario())).status == "canceled"


def test_cancelling_while_the_create_is_in_flight_cancels_the_prediction_it_made(
    fresh_client, monkeypatch
):
    created = asyncio.Event()
    create = Predictions.async_create

    async def slow_answer(self, *args, **kwargs):  # the API made it; its answer is slow
        prediction = await create(self, *args, **kwargs)
        created.set()
        await asyncio.sleep(0.5)
        return prediction

    monkeypatch.setattr(Predictions, "async_create", slow_answer)

    async def scenario():
        f = form("sandbox/sleep", client=fresh_client)
        f.set(seconds=30)
        f.button.click()
        await asyncio.wait_for(created.wait(), 10)
        f.task.cancel()  # Ctrl-C, or the notebook moving on, while create has not answered
        with pytest.raises(asyncio.CancelledError):
            await f.task
        [made] = (await asyncio.to_thread(fresh_client.predictions.list)).results
        for _ in range(500):
            status = (await asyncio.to_thread(fresh_client.predictions.get, made.id)).status
            if status == "canceled":
                break
            await asyncio.sleep(0.02)
        return f, made.id, status

    f, made, status = asyncio.run(scenario())
    assert status == "canceled"
    assert f.last_prediction is not None and f.last_prediction.id == made


def test_an_unexpected_error_in_a_button_task_is_shown_in_the_form_and_retrieved(client):
    unretrieved: list[dict] = []

    async def scenario():
        asyncio.get_running_loop().set_exception_handler(lambda _, ctx: unretrieved.append(ctx))
        f = form(SDXL, client=client)
        f.set(prompt="x", width=64, height=64)

        async def broken(prediction):
            raise RuntimeError("the view broke")

        f.view.show_output = broken
        f.button.click()
        result = await f.task  # the button's task never raises: the form reports the error
        return f, result

    f, result = asyncio.run(scenario())
    gc.collect()
    assert result is None and unretrieved == []
    assert isinstance(f.last_error, RuntimeError)
    assert "RuntimeError: the view broke" in f.status.value
    assert not f.button.disabled and f.cancel_button.disabled


def test_run_button_refuses_with_the_required_message(client):
    async def scenario():
        f = form("black-forest-labs/flux-schnell", client=client)
        f.button.click()
        result = await f.task
        with pytest.raises(FormError, match="not sent: prompt is required"):
            await f.submit()
        return f, result

    f, result = asyncio.run(scenario())
    assert result is None and f.history == []
    assert "not sent" in f.status.value and "prompt is required" in f.status.value
    assert "prompt is required" in f.inputs["prompt"].head.value


def test_bare_schema_form_says_it_needs_a_model():
    f = ModelForm(SDXL_SCHEMA)
    with pytest.raises(FormError, match="no model to run"):
        asyncio.run(f.submit())
    assert "form(&#x27;owner/name&#x27;)" in f.status.value


def test_api_rejections_are_shown_next_to_their_fields(client, monkeypatch):
    async def scenario():
        f = form(SDXL, client=client)
        monkeypatch.setattr(f.schema, "validate", lambda value: [])  # let the API judge
        f.set(num_outputs=9, width=64, height=64)
        with pytest.raises(ReplicateError) as caught:
            await f.submit()
        return f, caught.value

    f, error = asyncio.run(scenario())
    assert error.status == 422
    assert f.errors == {"num_outputs": "Must be less than or equal to 4 (got 9)"}
    assert "Must be less than or equal to 4" in f.inputs["num_outputs"].head.value
    assert "422" in f.status.value
    f.set(num_outputs=2)  # editing the field clears the API's verdict
    assert f.errors == {}


def test_failed_prediction_is_returned_with_its_error_shown(client):
    async def scenario():
        f = form("sandbox/fail", client=client)
        f.set(message="out of coffee")
        return f, await f.submit()

    f, prediction = asyncio.run(scenario())
    assert prediction.status == "failed"
    assert "failed" in f.status.value and "out of coffee" in f.status.value


def test_history_load_button_restores_a_past_runs_inputs(client):
    async def scenario():
        f = form(SDXL, client=client)
        for prompt in ("first", "second"):
            f.set(prompt=prompt, width=32, height=32)
            await f.submit()
        return f

    f = asyncio.run(scenario())
    assert [run.input["prompt"] for run in f.history] == ["first", "second"]
    oldest = f.history_view.children[-1]
    oldest.children[1].click()  # its Load inputs button
    assert f.value == {"prompt": "first", "width": 32, "height": 32}
    f.set(seed=3)
    f.load(f.history[1])
    assert f.value == {"prompt": "second", "width": 32, "height": 32}


def test_buttons_outside_an_event_loop_explain_instead_of_failing():
    f = ModelForm(HAND_MADE, model="me/model")
    f.button.click()
    assert f.task is None
    assert "need a running event loop" in f.status.value


def test_uploaded_file_is_sent_as_data_uri_and_coded_as_open(client):
    image = png((12, 10))

    async def scenario():
        f = form("nightmareai/real-esrgan", client=client)
        f.inputs["image"].control.set_state(
            {
                "value": [
                    {
                        "name": "cat.png",
                        "type": "image/png",
                        "size": len(image),
                        "content": image,
                        "last_modified": 0,
                    }
                ]
            }
        )
        f.set(scale=2)
        return f, await f.submit()

    f, prediction = asyncio.run(scenario())
    assert prediction.status == "succeeded"
    assert prediction.input["image"].startswith("data:image/png;base64,")
    assert "24\N{MULTIPLICATION SIGN}20" in f.output.outputs[0]["data"]["text/plain"]
    assert 'with open("cat.png", "rb") as image_file:' in f.code()
    assert '"image": image_file,' in f.code()


def test_form_uses_the_connected_client_by_default():
    connect(backend="sandbox", seed=1)
    try:

        async def scenario():
            f = form(SDXL)
            f.set(width=16, height=16)
            return await f.submit()

        assert asyncio.run(scenario()).status == "succeeded"
    finally:
        disconnect()


def test_secret_never_reaches_widget_state_code_repr_or_history(fresh_sb, fresh_client):
    seen = []

    def vault(api_key: Secret, note: str = Input(default="hi")) -> str:
        seen.append(api_key.get_secret_value())
        return "opened"

    fresh_sb.register("me/vault", vault)

    async def scenario():
        f = form("me/vault", client=fresh_client)
        f.inputs["api_key"].control.set_state({"value": SENTINEL})  # typed in the browser
        f.set(note="look")
        return f, await f.submit()

    f, prediction = asyncio.run(scenario())
    assert isinstance(f.inputs["api_key"], SecretField)
    assert prediction.status == "succeeded" and seen == [SENTINEL]
    assert f.value["api_key"] == SENTINEL  # kept in Python, to send
    assert SENTINEL not in every_widget_state()
    assert SENTINEL not in f.code() and 'getpass("api_key: ")' in f.code()
    assert SENTINEL not in repr(f) + repr(f.inputs["api_key"]) + repr(f.history)
    assert "api_key=[secure]" in f.history_view.children[0].children[2].value
    f.load(0)  # reloading a run brings the secret back, still only in Python
    assert f.value["api_key"] == SENTINEL and SENTINEL not in every_widget_state()


def test_history_and_last_prediction_never_show_a_secret(fresh_sb, fresh_client):
    def vault(api_key: Secret, note: str = Input(default="hi")) -> str:
        return "opened"

    fresh_sb.register("me/vault", vault)

    async def scenario():
        f = form("me/vault", client=fresh_client)
        f.set(api_key=SENTINEL, note="look")
        return f, await f.submit()

    f, prediction = asyncio.run(scenario())
    run = f.history[0]
    shown = [
        repr(f.history),
        str(run),
        repr(run.input),
        repr(f.last_prediction),
        repr(prediction),
        pretty(f.history),
        pretty(f.last_prediction),
        str(f.last_prediction.input),
        every_widget_state(),
    ]
    assert all(SENTINEL not in text for text in shown), [t for t in shown if SENTINEL in t]
    assert run.input == {"api_key": "[secure]", "note": "look"}
    assert f.last_prediction.input == {"api_key": "[secure]", "note": "look"}
    assert run.sent()["api_key"] == SENTINEL  # kept for Load inputs, never displayed


def test_secret_validation_messages_never_quote_the_secret():
    schema = {
        "components": {
            "schemas": {
                "Input": {
                    "type": "object",
                    "properties": {
                        "key": {
                            "type": "string",
                            "format": "password",
                            "x-cog-secret": True,
                            "minLength": 40,
                        }
                    },
                }
            }
        }
    }
    f = ModelForm(schema)
    f.set(key=SENTINEL)
    assert f.errors == {"key": "Must be at least 40 characters long"}
    assert SENTINEL not in every_widget_state()


def test_ctrl_enter_from_the_browser_runs_the_form_unless_it_is_invalid(client):
    async def scenario():
        f = form("black-forest-labs/flux-schnell", client=client)
        keys = next(
            w for w in f.children[1].children[0].children[1].children if isinstance(w, RunKeys)
        )
        keys._received(keys, {"event": "run"}, [])  # Ctrl+Enter with the prompt still blank
        assert f.task is None and f.button.disabled and "prompt" in f.reason.value
        f.set(prompt="a fox", num_outputs=1)
        keys._received(keys, {"event": "run"}, [])
        return await f.task

    assert asyncio.run(scenario()).status == "succeeded"
