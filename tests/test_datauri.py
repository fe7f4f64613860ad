"""data: URIs: one encoder and decoder for the helpers and the sandbox."""

from __future__ import annotations

import pytest

from replicate_nb import _datauri


def test_encode_then_decode_gives_the_bytes_and_type_back():
    uri = _datauri.encode(b"\x89PNG\x00\xff", "image/png")
    assert uri == "data:image/png;base64,iVBORwD/"
    assert (_datauri.decode(uri), _datauri.media_type(uri)) == (b"\x89PNG\x00\xff", "image/png")


def test_percent_encoded_and_parameters():
    uri = "data:text/plain;charset=utf-8,hello%20world"
    assert (_datauri.decode(uri), _datauri.media_type(uri)) == (b"hello world", "text/plain")
    assert _datauri.media_type("data:,x") == ""


@pytest.mark.parametrize("bad", ["data:image/png;base64", "https://x/y.png", "data:;base64,a"])
def test_what_is_not_a_data_uri_raises_a_value_error(bad):
    with pytest.raises(ValueError):
        _datauri.decode(bad)


def test_is_data_uri():
    assert _datauri.is_data_uri("data:,x")
    assert not _datauri.is_data_uri("data:nocomma")
    assert not _datauri.is_data_uri(b"data:,x")


def test_the_module_needs_only_the_standard_library():
    import ast
    import sys
    from pathlib import Path

    tree = ast.parse(Path(_datauri.__file__).read_text())
    imported = {
        (n.names[0].name if isinstance(n, ast.Import) else n.module or "").split(".")[0]
        for n in ast.walk(tree)
        if isinstance(n, ast.Import | ast.ImportFrom)
    }
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}
