"""Statuses, status colours and model refs: defined once, in `_terms`, for helpers and sandbox."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

import replicate_nb
from replicate_nb import _terms
from replicate_nb._terms import ModelRef, parse_ref, split_name, status_colour

PACKAGE = Path(replicate_nb.__file__).parent
SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "_terms.py")


@pytest.mark.parametrize(
    ("ref", "parsed"),
    [
        ("owner/name", ModelRef("owner", "name")),
        ("owner/name:abc123", ModelRef("owner", "name", "abc123")),
        ("meta/meta-llama-3-8b-instruct", ModelRef("meta", "meta-llama-3-8b-instruct")),
        ("a.b/c_d-e.f:5c7d5dc6", ModelRef("a.b", "c_d-e.f", "5c7d5dc6")),
    ],
)
def test_parse_ref__valid(ref, parsed):
    assert parse_ref(ref) == parsed
    assert str(parse_ref(ref)) == ref
    assert parsed.model == ref.partition(":")[0]


@pytest.mark.parametrize(
    "ref",
    [
        "",
        "name",
        "owner/",
        "/name",
        "a/b/c",
        "a/b:",
        "a/b:c:d",
        "a b/c",
        "a/b c",
        "a/b:c/d",
        3,
        None,
    ],
)
def test_parse_ref__not_a_ref(ref):
    assert parse_ref(ref) is None


def test_split_name_takes_no_version():
    assert split_name("o/n") == ("o", "n")
    assert split_name("o/n:v") is None
    assert split_name("o/n/x") is None


def test_status_colours():
    assert status_colour("succeeded") == _terms.GREEN
    assert status_colour("failed") == status_colour("error") == status_colour("not sent")
    assert status_colour("failed") == _terms.RED
    assert status_colour("canceled") == _terms.GREY
    assert status_colour("starting") == status_colour("processing") == _terms.BLUE
    assert _terms.TERMINAL == {"succeeded", "failed", "canceled"}


def _terminal_literals(path: Path) -> list[int]:
    """Lines holding a literal tuple/list/set of exactly the terminal statuses."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            words = {e.value for e in node.elts if isinstance(e, ast.Constant)}
            if words == _terms.TERMINAL:
                found.append(node.lineno)
    return found


def test_terminal_statuses_are_written_only_in_terms():
    written = {str(p.relative_to(PACKAGE)): _terminal_literals(p) for p in SOURCES}
    assert {k: v for k, v in written.items() if v} == {}


def test_status_colours_are_written_only_in_terms():
    colours = {_terms.GREEN, _terms.RED, _terms.GREY, _terms.BLUE}
    pattern = re.compile("|".join(re.escape(c) for c in colours), re.IGNORECASE)
    written = {
        str(p.relative_to(PACKAGE)): pattern.findall(p.read_text())
        for p in SOURCES
        if pattern.search(p.read_text())
    }
    assert written == {}


def test_model_refs_are_parsed_only_in_terms():
    """No module splits a ref by hand (`ref.partition(":")`) or with the SDK's parser."""
    hand = re.compile(r"""(ref|destination)\w*\.(partition|split)\(["'][/:]["']\)""")
    written = {
        str(p.relative_to(PACKAGE)): hand.findall(p.read_text())
        for p in SOURCES
        if hand.search(p.read_text()) or "ModelVersionIdentifier" in p.read_text()
    }
    assert written == {}


def test_the_module_needs_only_the_standard_library():
    code = (
        "import sys, replicate_nb._terms\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'replicate', 'httpx', 'IPython', 'ipywidgets', 'starlette'}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
