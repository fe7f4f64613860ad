"""The README's Python examples run as written (offline), and its signatures are the code's."""

from __future__ import annotations

import ast
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import replicate_nb
from replicate_nb import sandbox
from replicate_nb.sandbox.__main__ import _parser

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
README_TEXT = README.read_text(encoding="utf-8")
BLOCKS = re.findall(r"```python\n(.*?)```", README_TEXT, re.DOTALL)


def test_the_readme_has_examples():
    assert len(BLOCKS) >= 4


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{n}" for n in range(len(BLOCKS))])
def test_readme_example_runs(code: str, tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPLICATE_")}
    prelude = "import replicate\n"  # the examples share the README's first import
    done = subprocess.run(
        [sys.executable, "-c", prelude + code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]


def _documented_signature(name: str) -> inspect.Signature:
    """The signature the README writes as `name(...)` (its longest inline `name(...)`)."""
    shown = re.findall(rf"`{re.escape(name)}\((.*?)\)`", README_TEXT, re.DOTALL)
    assert shown, f"the README does not show `{name}(...)`"
    text = max(shown, key=len)  # the full signature, not a call like `connect()`
    tree = ast.parse(f"def f({' '.join(text.split())}): pass")
    args = tree.body[0].args
    params = []
    positional = args.args
    defaults = [None] * (len(positional) - len(args.defaults)) + args.defaults
    for arg, default in zip(positional, defaults, strict=True):
        value = inspect.Parameter.empty if default is None else ast.literal_eval(default)
        params.append(inspect.Parameter(arg.arg, _POSITIONAL, default=value))
    for arg, default in zip(args.kwonlyargs, args.kw_defaults, strict=True):
        value = inspect.Parameter.empty if default is None else ast.literal_eval(default)
        params.append(inspect.Parameter(arg.arg, inspect.Parameter.KEYWORD_ONLY, default=value))
    if args.kwarg is not None:
        params.append(inspect.Parameter(args.kwarg.arg, inspect.Parameter.VAR_KEYWORD))
    return inspect.Signature(params)


_POSITIONAL = inspect.Parameter.POSITIONAL_OR_KEYWORD


@pytest.mark.parametrize(
    ("name", "function"), [("sandbox.start", sandbox.start), ("connect", replicate_nb.connect)]
)
def test_readme_signatures_are_the_codes(name: str, function):
    code = inspect.signature(function).replace(return_annotation=inspect.Signature.empty)
    code = code.replace(
        parameters=[p.replace(annotation=inspect.Parameter.empty) for p in code.parameters.values()]
    )
    assert _documented_signature(name) == code, f"update the README's `{name}{code}`"


def _cli_flags() -> set[str]:
    return {s for a in _parser()._actions for s in a.option_strings if s.startswith("--")}


def test_readme_names_every_flag_of_the_command():
    paragraph = re.search(r"The command takes them as flags:(.*?)\n\n", README_TEXT, re.DOTALL)
    assert paragraph, "the README's list of the sandbox command's flags is missing"
    documented = set(re.findall(r"`(--[a-z-]+)", paragraph.group(1)))
    assert documented == _cli_flags(), (
        f"README lacks {sorted(_cli_flags() - documented)}, "
        f"names unknown {sorted(documented - _cli_flags())}"
    )


def test_every_flag_the_docs_give_the_sandbox_exists():
    docs = [README, ROOT / "notebooks" / "README.md", *sorted(ROOT.glob("docs/*.md"))]
    unknown = set()
    for path in docs:
        for span in re.findall(r"`([^`]+)`", path.read_text(encoding="utf-8")):
            if span.startswith("--") or "replicate_nb.sandbox" in span:
                unknown |= set(re.findall(r"(?<!\S)(--[a-z][a-z-]*)", span)) - _cli_flags()
    assert not unknown, f"the docs give flags the sandbox command does not have: {unknown}"
