"""`form()`: a model reference (name, version, Model, Version, schema) made into a ModelForm."""

from __future__ import annotations

import replicate
from replicate.exceptions import ReplicateError
from replicate.model import Model
from replicate.version import Version

from replicate_nb._terms import parse_ref
from replicate_nb.connection import current_client
from replicate_nb.errors import FormError, InvalidModelRef
from replicate_nb.forms.form import ModelForm


def _is_official(model: Model) -> bool:
    """Official models run by name: Replicate lists no versions for them (404, or none)."""
    try:
        return not model.versions.list().results
    except ReplicateError as e:
        if e.status == 404:
            return True
        raise


def form(
    model: str | Model | Version | dict, *, client: replicate.Client | None = None
) -> ModelForm:
    """A form for a model's inputs, ready to fill in and Run (the notebook playground).

    Args:
        model: `"owner/name"` (latest version; official models run by name),
            `"owner/name:version"`, a `Model`, a `Version`, or a bare `openapi_schema` dict (a
            form to fill in and turn into code; Run needs a model).
        client: the `replicate.Client` to use; by default the one `connect()` made.

    Raises:
        InvalidModelRef: a string that is not `owner/name[:version]`.
        FormError: `model` of another type, or a model with no version.
    """
    if isinstance(model, dict):
        return ModelForm(model, client=client)
    if isinstance(model, Version):
        return ModelForm(
            model.openapi_schema, version=model.id, cog_version=model.cog_version, client=client
        )
    pinned = None
    if isinstance(model, str):
        ref = parse_ref(model)
        if ref is None:
            raise InvalidModelRef(model)
        pinned = ref.version
        model = (client if client is not None else current_client()).models.get(ref.model)
    elif not isinstance(model, Model):
        raise FormError(
            f"form() takes 'owner/name[:version]', a Model, a Version or an "
            f"openapi_schema dict, not a {type(model).__name__}"
        )
    version = model.versions.get(pinned) if pinned else model.latest_version
    if version is None:
        raise FormError(f"{model.id} has no version yet, so there is no input schema to show")
    by_name = pinned is None and _is_official(model)
    return ModelForm(
        version.openapi_schema,
        model=model.id,
        version=None if by_name else version.id,
        cog_version=version.cog_version,
        description=model.description or "",
        client=client,
    )
