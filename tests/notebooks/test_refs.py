"""Every model ref the kit and the docs run is one api.replicate.com accepts.

Official models run by name; every other model needs `owner/name:version`. The rule is checked on
every code cell and fenced Python block, with the sandbox catalog's knowledge of which stand-ins
are official; models a notebook registers itself exist only in the sandbox and run by name. A
cell tagged `raises-exception` shows a refusal on purpose, so its refs are not checked.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from IPython.core.inputtransformer2 import TransformerManager

from replicate_nb.sandbox.catalog import Catalog
from replicate_nb.sandbox.models import builtin_models
from tests.notebooks.kit import KIT, exercises, read, solutions, tutorials

ROOT = KIT.parent
DOCS = [ROOT / "README.md", KIT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RUNNERS = {
    "run",
    "async_run",
    "stream",
    "async_stream",
    "run_many",
    "async_run_many",
    "stream_text",
    "async_stream_text",
}
CREATORS = {"create", "async_create"}
REF = re.compile(r"^[\w.-]+/[\w.-]+(:[0-9a-f]{64})?$")
RAISES = {"raises-exception", "nbval-raises-exception"}
CATALOG = {m.ref: m for m in Catalog(builtin_models()).models()}


def _strings(node: ast.AST, names: dict[str, str]) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return names.get(node.id)
    if isinstance(node, ast.JoinedStr):  # f"{NAME}:{version}" is pinned
        parts = [v.value for v in node.values if isinstance(v, ast.Constant)]
        return "pinned/f-string:" + "0" * 64 if any(":" in p for p in parts) else None
    return None


def refs_run(code: str, names: dict[str, str], registered: set[str]) -> list[str]:
    """The refs a block of code runs (`names` carries NAME = "literal" across cells)."""
    source = TransformerManager().transform_cell(code)
    tree = ast.parse(source)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            value = _strings(node.value, names)
            if isinstance(target, ast.Name) and value is not None:
                names[target.id] = value
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name == "register" and node.args:
            ref = _strings(node.args[0], names)
            registered.add(ref or "")
        elif name == "run_cell_magic" and len(node.args) >= 2:
            magic, line = (_strings(a, names) for a in node.args[:2])
            if magic == "replicate" and line:
                found.append(line.split()[0])
        elif name in RUNNERS and node.args:
            found.append(_strings(node.args[0], names) or "")
        elif name in CREATORS:
            for keyword in node.keywords:
                if keyword.arg in ("version", "model"):
                    found.append(_strings(keyword.value, names) or "")
    return [ref for ref in found if REF.match(ref)]


def violations(ref: str, registered: set[str]) -> str | None:
    """Why api.replicate.com (or the sandbox) would refuse `ref`, or None."""
    base, _, version = ref.partition(":")
    model = CATALOG.get(base)
    if version:
        if model is not None and version != model.version_id:
            return f"{ref}: not the stand-in's version {model.version_id}"
        return None
    if base in registered or (model is not None and model.runs_by_name):
        return None
    if model is None:
        return f"{ref}: no such model in the sandbox (and not registered here)"
    return f"{ref}: not an official model, so it runs only as {model.pinned_ref}"


def _fenced(text: str) -> list[str]:
    return re.findall(r"```(?:python|py)\n(.*?)```", text, re.DOTALL)


def _blocks(path: Path) -> list[str]:
    if path.suffix == ".md":
        return _fenced(path.read_text(encoding="utf-8"))
    blocks = []
    for cell in read(path).cells:
        if cell.cell_type != "code":
            blocks += _fenced(cell.source)
        elif not RAISES & set(cell.metadata.get("tags", [])):
            blocks.append(cell.source)
    return blocks


PLACES = [*tutorials(), *solutions(), *exercises(), *DOCS]


@pytest.mark.parametrize("path", PLACES, ids=[str(p.relative_to(ROOT)) for p in PLACES])
def test_every_ref_is_one_the_real_api_accepts(path: Path):
    names: dict[str, str] = {}
    registered: set[str] = set()
    problems = []
    for block in _blocks(path):
        try:
            refs = refs_run(block, names, registered)
        except SyntaxError:
            continue  # a shell or JavaScript block marked as Python would be a doc bug elsewhere
        problems += [v for ref in refs if (v := violations(ref, registered))]
    assert not problems, problems


@pytest.mark.parametrize(
    ("code", "bad"),
    [
        ('replicate.run("replicate/hello-world", input={})', True),
        ('HELLO = "replicate/hello-world"\nreplicate.run(HELLO)', True),
        ('replicate.models.predictions.create(model="stability-ai/sdxl", input={})', True),
        ('replicate_nb.run_many("nightmareai/real-esrgan", [])', True),
        ("%%replicate replicate/hello-world\nbob", True),
        ('await replicate.async_run("andreasjansson/llama-2-13b-embeddings", input={})', True),
        ('replicate.run("replicate/hello-world:' + "0" * 64 + '")', True),
        (
            'replicate.run("replicate/hello-world:'
            + CATALOG["replicate/hello-world"].version_id
            + '", input={})',
            False,
        ),
        ('replicate.run("meta/meta-llama-3-8b-instruct", input={})', False),
        ('replicate.models.get("replicate/hello-world")', False),
        ('sb.register("me/shout", shout)\nclient.run("me/shout", input={})', False),
        ('replicate.run(f"{NAME}:{version}")', False),
    ],
)
def test_the_rule_catches_refs_run_by_name(code, bad):
    registered: set[str] = set()
    found = [v for ref in refs_run(code, {}, registered) if (v := violations(ref, registered))]
    assert bool(found) is bad, found
