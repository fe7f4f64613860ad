"""Schema field → widget mappers: one test per schema feature, checked with `check_widget`."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
from pathlib import Path

import ipywidgets as w
import pytest
from PIL import Image

from replicate_nb.errors import FormError
from replicate_nb.forms.field import same_value
from replicate_nb.forms.fields import BooleanField, EnumField, JsonField, NumberField, TextField
from replicate_nb.forms.front import FileDrop
from replicate_nb.forms.mappers import widget_for
from replicate_nb.forms.private_fields import MAX_DATA_URI_BYTES, SecretField, UriField
from replicate_nb.schema import MISSING, parse

SCHEMAS = Path(__file__).parents[1] / "data" / "schemas"


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (2, 2)).save(buffer, "PNG")
    return buffer.getvalue()


PNG = png()


@pytest.fixture(autouse=True)
def close_widgets():
    yield
    w.Widget.close_all()


def sample(name: str, field: str):
    schema = json.loads((SCHEMAS / name).read_text())
    return parse(schema).field(field)


def hand_made(prop: dict, *, required: bool = False, components: dict | None = None):
    schema = {
        "components": {
            "schemas": {
                "Input": {
                    "type": "object",
                    "properties": {"x": prop},
                    "required": ["x"] if required else [],
                },
                **(components or {}),
            }
        }
    }
    return parse(schema).field("x")


def check_widget(widget, *, cls, value, description, **attrs):
    """The control's class, the JSON value read (numeric types too), the label, and attributes."""
    assert type(widget.control) is cls, type(widget.control)
    got = widget.read()
    if value is MISSING:
        assert got is MISSING
    else:
        assert got == value
        assert type(got) is type(value), (type(got), type(value))
    assert widget.label == description
    for name, expected in attrs.items():
        assert getattr(widget.control, name) == expected, name


def frontend_sets(widget, **state):
    """Apply a state update the way a comm message from the browser does."""
    widget.set_state(state)


# enums


def test_enum_via_allof_ref_is_a_dropdown_at_its_default():
    f = sample("stability-ai__sdxl__7762fd07.json", "scheduler")
    widget = widget_for(f)
    check_widget(widget, cls=w.Dropdown, value="K_EULER", description="scheduler")
    assert isinstance(widget, EnumField)
    assert "(not set)" not in widget.control._options_labels


def test_integer_enum_keeps_integer_values():
    f = sample("stability-ai__stable-diffusion__ac732df8.json", "width")
    widget = widget_for(f)
    check_widget(widget, cls=w.Dropdown, value=768, description="width")
    widget.control.value = 512
    assert widget.read() == 512 and type(widget.read()) is int


def test_inline_enum_of_numeric_strings_declared_integer_is_coerced():
    f = sample("gnobitab__fusedream__25f7ab04.json", "model_size")
    check_widget(widget_for(f), cls=w.Dropdown, value=512, description="model_size")


def test_string_enum_of_numbers_stays_string():
    f = sample("black-forest-labs__flux-schnell.derived.json", "megapixels")
    check_widget(widget_for(f), cls=w.Dropdown, value="1", description="megapixels")


def test_optional_enum_without_default_starts_blank():
    f = hand_made(
        {"allOf": [{"$ref": "#/components/schemas/x"}]},
        components={"x": {"title": "x", "enum": ["a", "b"], "type": "string"}},
    )
    widget = widget_for(f)
    check_widget(widget, cls=w.Dropdown, value=MISSING, description="x")
    assert widget.control._options_labels == ("(not set)", "a", "b")


def test_blanking_a_defaulted_enum_or_checkbox_shows_the_default():
    scheduler = widget_for(sample("stability-ai__sdxl__7762fd07.json", "scheduler"))
    scheduler.write("DDIM")
    scheduler.write(None)
    assert scheduler.read() == "K_EULER"
    watermark = widget_for(sample("stability-ai__sdxl__7762fd07.json", "apply_watermark"))
    watermark.write(False)
    watermark.write(None)
    assert watermark.read() is True


def test_enum_rejects_a_value_outside_its_choices():
    widget = widget_for(sample("stability-ai__sdxl__7762fd07.json", "scheduler"))
    with pytest.raises(FormError, match="one of"):
        widget.write("EULER_FAST")


def test_enum_default_outside_its_choices_falls_back_to_blank():
    f = hand_made({"enum": ["a", "b"], "type": "string", "default": "zzz"})
    check_widget(widget_for(f), cls=w.Dropdown, value=MISSING, description="x")


# numbers


def test_bounded_integer_is_a_slider_linked_to_an_entry():
    widget = widget_for(sample("stability-ai__sdxl__7762fd07.json", "num_inference_steps"))
    check_widget(
        widget, cls=w.IntSlider, value=50, description="num_inference_steps", min=1, max=500
    )
    widget.entry.value = "30"
    assert widget.control.value == 30
    widget.control.value = 12
    assert widget.entry.value == "12"
    assert widget.read() == 12


def test_bounded_number_is_a_float_slider_whose_steps_hit_min_and_default():
    widget = widget_for(sample("stability-ai__sdxl__7762fd07.json", "guidance_scale"))
    check_widget(
        widget,
        cls=w.FloatSlider,
        value=7.5,
        description="guidance_scale",
        min=1.0,
        max=50.0,
        step=0.1,
    )  # not 49/100: 1 + k * 0.49 never hits 7.5
    protect = widget_for(sample("zsxkib__realistic-voice-cloning__0a9c7c55.json", "protect"))
    assert protect.control.step == 0.001  # default 0.33 on a 0..0.5 range


def test_slider_snapping_in_the_browser_leaves_the_typed_value():
    widget = widget_for(sample("stability-ai__sdxl__7762fd07.json", "guidance_scale"))
    widget.entry.value = "7.55"
    frontend_sets(widget.control, value=7.6)  # the browser's slider snaps to its step
    assert widget.read() == 7.55
    frontend_sets(widget.control, value=9.0)  # a real drag
    assert widget.read() == 9.0


def test_out_of_range_entry_keeps_its_text_while_the_slider_clamps():
    widget = widget_for(sample("stability-ai__sdxl__7762fd07.json", "num_outputs"))
    widget.entry.value = "9"
    assert widget.control.value == 4
    assert widget.read() == 9  # validation, not the widget, reports the bound


def test_unbounded_integer_without_default_is_a_blank_text_entry():
    widget = widget_for(sample("stability-ai__sdxl__7762fd07.json", "seed"))
    check_widget(
        widget, cls=w.Text, value=MISSING, description="seed", placeholder="blank: not sent"
    )
    widget.entry.value = " 42 "
    assert widget.read() == 42 and type(widget.read()) is int


def test_one_bound_is_a_text_entry():
    widget = widget_for(sample("fofr__latent-consistency-model__d6ea4b06.json", "lcm_origin_steps"))
    check_widget(widget, cls=w.Text, value=50, description="lcm_origin_steps")


def test_huge_integer_range_gets_no_slider():
    widget = widget_for(sample("nightmareai__disco-diffusion__3c128f65.json", "seed"))
    check_widget(widget, cls=w.Text, value=MISSING, description="seed")
    assert widget.slider is None


@pytest.mark.parametrize(
    ("text", "integer", "expected"),
    [("1e-3", False, 0.001), ("3", False, 3), ("3.0", True, 3), ("-2", True, -2)],
)
def test_number_entry_parses(text, integer, expected):
    kind = "integer" if integer else "number"
    widget = widget_for(hand_made({"type": kind}))
    widget.entry.value = text
    assert widget.read() == expected and type(widget.read()) is type(expected)


@pytest.mark.parametrize(
    ("text", "integer", "message"),
    [
        ("abc", False, "'abc' is not a number"),
        ("nan", False, "not a finite number"),
        ("2.5", True, "'2.5' is not a whole number"),
    ],
)
def test_number_entry_reports_text_that_does_not_parse(text, integer, message):
    widget = widget_for(hand_made({"type": "integer" if integer else "number"}))
    widget.entry.value = text
    with pytest.raises(ValueError, match=message):
        widget.read()


def test_number_write_rejects_wrong_types():
    widget = widget_for(hand_made({"type": "integer"}))
    for bad in ("7", True, 2.5, [1]):
        with pytest.raises(FormError, match="takes a whole number"):
            widget.write(bad)
    widget.write(None)
    assert widget.read() is MISSING


# text


def test_prompt_is_a_textarea():
    widget = widget_for(sample("stability-ai__sdxl__7762fd07.json", "prompt"))
    check_widget(
        widget, cls=w.Textarea, value="An astronaut riding a rainbow unicorn", description="prompt"
    )


def test_multiline_default_is_a_textarea_tall_enough():
    widget = widget_for(
        sample("andreasjansson__llama-2-13b-embeddings__7115a4c6.json", "prompt_separator")
    )
    check_widget(widget, cls=w.Textarea, value="\n\n", description="prompt_separator")
    assert widget.control.rows >= 3


def test_short_string_is_a_text_box_blank_means_not_sent():
    widget = widget_for(sample("stability-ai__sdxl__7762fd07.json", "replicate_weights"))
    check_widget(widget, cls=w.Text, value=MISSING, description="replicate_weights")
    widget.write("x")
    assert widget.read() == "x"
    with pytest.raises(FormError, match="takes a string"):
        widget.write(3)


# booleans


def test_boolean_with_default_is_a_checkbox():
    widget = widget_for(sample("stability-ai__sdxl__7762fd07.json", "apply_watermark"))
    check_widget(widget, cls=w.Checkbox, value=True, description="apply_watermark")
    assert isinstance(widget, BooleanField)
    with pytest.raises(FormError, match="True or False"):
        widget.write(1)


def test_optional_boolean_without_default_can_stay_blank():
    widget = widget_for(hand_made({"type": "boolean"}))
    check_widget(widget, cls=w.Dropdown, value=MISSING, description="x")
    widget.write(False)
    assert widget.read() is False


# files


def test_uri_is_an_upload_plus_url_box_with_accept():
    f = hand_made({"type": "string", "format": "uri", "x-cog-accept": "image/*"}, required=True)
    widget = widget_for(f)
    check_widget(widget, cls=w.FileUpload, value=MISSING, description="x *", accept="image/*")
    widget.url.value = "https://example.com/cat.png"
    assert widget.read() == "https://example.com/cat.png"


def test_upload_becomes_a_data_uri_and_leaves_widget_state():
    widget = widget_for(sample("stability-ai__sdxl__7762fd07.json", "image"))
    frontend_sets(
        widget.control,
        value=[
            {
                "name": "cat.png",
                "type": "image/png",
                "size": len(PNG),
                "content": PNG,
                "last_modified": 0,
            }
        ],
    )
    assert widget.read() == "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert widget.filename == "cat.png"
    assert widget.control.get_state()["value"] == []
    assert "cat.png" in widget.head.value and "data: URI" in widget.head.value
    widget.url.value = "https://example.com/dog.png"  # a URL replaces the upload
    assert widget.read() == "https://example.com/dog.png"
    assert widget.filename is None
    widget.write("data:image/png;base64,AAAA")  # and a data: URI replaces the URL
    assert (widget.read(), widget.url.value, widget.filename) == (
        "data:image/png;base64,AAAA",
        "",
        "image.png",
    )


def test_uri_accepts_paths_bytes_and_binary_files(tmp_path):
    widget = widget_for(sample("stability-ai__sdxl__7762fd07.json", "image"))
    path = tmp_path / "photo.png"
    path.write_bytes(PNG)
    with open(path, "rb") as file:
        for given, name in (
            (path, "photo.png"),
            (PNG, "image.png"),
            (io.BytesIO(PNG), "image.png"),
            (file, "photo.png"),
        ):
            widget.write(given)
            assert widget.read().startswith("data:image/png;base64,")
            assert widget.filename == name
    with pytest.raises(FormError, match="binary mode"):
        widget.write(io.StringIO("text"))


def test_upload_too_large_for_a_data_uri_is_an_error():
    widget = widget_for(sample("stability-ai__sdxl__7762fd07.json", "image"))
    widget.write(b"\0" * (MAX_DATA_URI_BYTES + 1))
    with pytest.raises(ValueError, match="too large to send inline"):
        widget.read()


# secrets


def test_secret_is_a_password_box_that_never_keeps_the_text():
    f = hand_made({"type": "string", "format": "password", "writeOnly": True, "x-cog-secret": True})
    widget = widget_for(f)
    check_widget(widget, cls=w.Password, value=MISSING, description="x")
    assert isinstance(widget, SecretField)
    frontend_sets(widget.control, value="s3cr3t-value")
    assert widget.read() == "s3cr3t-value"
    assert widget.control.value == ""
    assert "s3cr3t" not in json.dumps(widget.control.get_state(), default=str)
    assert "s3cr3t" not in repr(widget) + widget.head.value
    assert "set (hidden)" in widget.control.placeholder


# JSON


def test_array_is_a_json_box():
    f = hand_made({"type": "array", "items": {"type": "string"}, "default": ["a"]})
    widget = widget_for(f)
    check_widget(widget, cls=w.Textarea, value=["a"], description="x")
    assert isinstance(widget, JsonField)
    widget.control.value = '["a", "b"]'
    assert widget.read() == ["a", "b"]


def test_object_json_box_reports_parse_errors_with_position():
    widget = widget_for(hand_made({"type": "object"}))
    check_widget(widget, cls=w.Textarea, value=MISSING, description="x")
    widget.control.value = '{"a": 1,}'
    with pytest.raises(ValueError, match=r"not valid JSON: .* \(line 1, column 9\)"):
        widget.read()
    with pytest.raises(FormError, match="JSON value"):
        widget.write({"a": object()})


def test_union_with_string_takes_bare_text_as_a_string():
    widget = widget_for(hand_made({"anyOf": [{"type": "string"}, {"type": "number"}]}))
    assert widget.control.placeholder == "JSON: string or number"
    widget.control.value = "hello"
    assert widget.read() == "hello"
    widget.control.value = "2.5"
    assert widget.read() == 2.5


# headings


def test_heading_shows_name_required_mark_description_default_and_bounds():
    widget = widget_for(sample("stability-ai__sdxl__7762fd07.json", "num_outputs"))
    head = widget.head.value
    assert "<code>num_outputs</code>" in head
    assert "Number of images to output." in head
    assert "default 1 · min 1 · max 4" in head
    required = widget_for(hand_made({"type": "string", "deprecated": True}, required=True))
    assert 'title="required">*</span>' in required.head.value
    assert "(deprecated)" in required.head.value


def test_missing_title_description_and_order_still_label_the_field():
    widget = widget_for(hand_made({"type": "integer"}))
    assert widget.label == "x"
    assert "blank: not sent" in widget.head.value


def test_annotate_shows_and_clears_an_error():
    widget = widget_for(hand_made({"type": "integer"}))
    widget.annotate(error="Must be < 3")
    assert "Must be &lt; 3" in widget.head.value
    widget.annotate(error="")
    assert "Must be" not in widget.head.value


def test_field_of_unknown_kind_raises_value_error():
    f = dataclasses.replace(hand_made({"type": "string"}), kind="tensor")
    with pytest.raises(ValueError, match="no widget for input 'x' of kind 'tensor'"):
        widget_for(f)


def test_field_widgets_have_short_reprs():
    assert repr(widget_for(hand_made({"type": "string"}))) == "TextField('x')"
    assert isinstance(widget_for(hand_made({"type": "number"})), NumberField)
    assert isinstance(widget_for(hand_made({"type": "string"})), TextField)
    assert isinstance(widget_for(hand_made({"type": "string", "format": "uri"})), UriField)


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [(1, 1.0, True), (True, 1, False), (False, False, True), ("1", 1, False), ([1], [1], True)],
)
def test_same_value_is_json_equality(a, b, same):
    assert same_value(a, b) is same


def test_a_file_dropped_on_a_uri_field_is_sent_as_a_data_uri_with_a_preview():
    widget = widget_for(sample("stability-ai__sdxl__7762fd07.json", "image"))
    [drop] = [w for w in widget.children[1].children[1].children if isinstance(w, FileDrop)]
    drop._received(drop, {"event": "file", "name": "cat.png", "type": "image/png"}, [PNG])
    assert widget.read() == "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert widget.filename == "cat.png"
    assert widget.preview.value.startswith('<img src="data:image/jpeg;base64,')
    assert base64.b64encode(PNG).decode() not in json.dumps(drop.get_state(), default=str)
