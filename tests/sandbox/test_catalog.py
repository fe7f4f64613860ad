"""The catalog on its own (no server): naming models every way, and atomic publication."""

from __future__ import annotations

import pytest

from replicate_nb.sandbox import catalog as catalog_module
from replicate_nb.sandbox.catalog import Catalog
from replicate_nb.sandbox.catalog_json import collection_json
from replicate_nb.sandbox.errors import Conflict, InvalidVersion, ModelNeedsVersion, NotFound
from replicate_nb.sandbox.models import builtin_models
from replicate_nb.sandbox.predictors import build_model

HELLO = "5c7d5dc6dd8bf75c1acaa8565735e7986bc5b66206b55cca93cb72c9bf15ccaa"


def shout(text: str) -> str:
    return text.upper()


@pytest.fixture
def catalog() -> Catalog:
    return Catalog(builtin_models())


def test_resolve_by_name_by_versioned_ref_and_by_bare_version(catalog):
    llama = catalog.model("meta", "meta-llama-3-8b-instruct")
    assert catalog.resolve("meta/meta-llama-3-8b-instruct") == (llama, False)  # official
    assert catalog.resolve("sandbox/sleep")[0].ref == "sandbox/sleep"  # only in the sandbox
    with pytest.raises(ModelNeedsVersion, match=f"replicate/hello-world:{HELLO}"):
        catalog.resolve("replicate/hello-world")  # neither: a version is required
    assert catalog.resolve(f"replicate/hello-world:{HELLO}")[1] is True
    assert catalog.resolve(HELLO)[0].ref == "replicate/hello-world"
    with pytest.raises(InvalidVersion):
        catalog.resolve("replicate/hello-world:" + "0" * 64)
    with pytest.raises(NotFound, match="replicate/hello-world"):
        catalog.model("nobody", "nothing")


@pytest.mark.parametrize("ref", ["replicate/hello-world/x", f"replicate/hello world:{HELLO}"])
def test_resolve__a_malformed_ref_is_an_invalid_version(catalog, ref):
    """Parsed by `_terms.parse_ref`, as the helpers parse refs (before: a 404 for a model
    named "hello-world/x")."""
    with pytest.raises(InvalidVersion, match="does not exist"):
        catalog.resolve(ref)


def test_every_model_has_its_input_schema(catalog):
    for model in catalog.models():
        assert catalog.input_schema(model).validate({}) is not None


def test_add_refuses_a_taken_name_unless_replacing(catalog):
    model = build_model("me/shout", shout)
    catalog.add(model)
    with pytest.raises(Conflict):
        catalog.add(build_model("me/shout", shout))
    catalog.add(build_model("me/shout", shout), replace=True)
    assert [m.ref for m in catalog.models()].count("me/shout") == 1


def test_a_model_is_never_visible_before_its_schema(catalog, monkeypatch):
    """register() racing traffic: a reader that finds the model must find its schema too."""
    model = build_model("me/racing", shout)
    seen_during_publication = []
    real_parse = catalog_module.cog_schema.parse

    def parse(*args, **kwargs):
        # What a request on another thread would see while the model is being added.
        seen_during_publication.append(list(catalog._models))  # no lock: add() may hold it
        return real_parse(*args, **kwargs)

    monkeypatch.setattr(catalog_module.cog_schema, "parse", parse)
    catalog.add(model)
    assert all("me/racing" not in refs for refs in seen_during_publication)
    assert catalog.input_schema(catalog.model("me", "racing")) is not None


def test_collections_list_their_models(
    catalog,
):
    assert "replicate/hello-world" in catalog.collections()["sandbox"]
    body = collection_json(catalog, "sandbox", "http://x", with_models=True)
    assert {m["name"] for m in body["models"]} >= {"hello-world", "sleep", "fail"}
