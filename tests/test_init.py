"""The facade: documented names, lazily imported."""

from __future__ import annotations

import inspect
import subprocess
import sys

import replicate_nb


def test_all_is_sorted_and_complete():
    assert replicate_nb.__all__ == sorted(replicate_nb.__all__)
    for name in replicate_nb.__all__:
        assert getattr(replicate_nb, name) is not None, name


def test_every_public_coroutine_has_a_sync_twin():
    for name in replicate_nb.__all__:
        if inspect.iscoroutinefunction(getattr(replicate_nb, name)):
            assert name.startswith("async_"), name
            twin = name.removeprefix("async_")
            assert twin in replicate_nb.__all__, f"{name} has no sync twin {twin}"
            assert not inspect.iscoroutinefunction(getattr(replicate_nb, twin))


def test_import_is_lazy():
    code = (
        "import sys, replicate_nb; "
        "print(sorted(m for m in ('ipywidgets', 'IPython', 'replicate', 'starlette') "
        "if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_unknown_name_raises_attribute_error():
    try:
        replicate_nb.nothing_here  # noqa: B018
    except AttributeError as exc:
        assert "nothing_here" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


def test_no_public_name_is_shadowed_by_a_submodule():
    """Importing a submodule sets the package attribute of the same name to the module."""
    import importlib
    import pkgutil
    import types

    for module in pkgutil.iter_modules(replicate_nb.__path__):
        importlib.import_module(f"replicate_nb.{module.name}")
    for name in replicate_nb.__all__:
        assert not isinstance(getattr(replicate_nb, name), types.ModuleType), name
    assert callable(replicate_nb.connect) and callable(replicate_nb.record)


def _readme_table_names() -> set[str]:
    """The names the README's tables document: the identifiers that open a first cell's spans."""
    import builtins
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## Notebook helpers", 1)[1].split("\n## ", 1)[0]
    names = set()
    for line in section.splitlines():
        if line.startswith("| `") or line.startswith("| %"):
            first = line.split(" | ")[0]
            found = set(re.findall(r"`(?:await )?([A-Za-z_]\w*)", first))
            names |= found - set(dir(builtins))  # "(a `ValueError`)" says what it also is
            if "%load_ext replicate_nb" in first:
                names.add("load_ipython_extension")
    return names


def test_readme_tables_match_all():
    documented = _readme_table_names()
    public = set(replicate_nb.__all__)
    assert documented - public == set(), "README documents names the package does not export"
    assert public - documented == set(), "exported names the README's tables do not document"


def test_every_error_is_exported_and_under_the_base():
    from replicate_nb import errors

    classes = {
        name
        for name, value in vars(errors).items()
        if isinstance(value, type)
        and issubclass(value, Exception)
        and value.__module__ == errors.__name__
    }
    assert classes <= set(replicate_nb.__all__)
    assert all(issubclass(getattr(errors, n), replicate_nb.ReplicateNbError) for n in classes)
    assert issubclass(replicate_nb.InvalidArgument, ValueError)
