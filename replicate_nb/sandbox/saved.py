"""Models made with `models.create`, and the versions trainings add to them, kept in the store.

A sandbox on a data directory keeps its predictions and trainings across restarts; without this
it would forget the models they made. The catalog reports each change to a created model
(`Catalog.on_change`), `save` keeps its `Catalog.snapshot` in the store's settings, and `restore`
serves each again at start: its metadata, and every trained version rebuilt from the trainer's
version id and the weights (a `Trainer` makes a version's `predict` from weights alone).
"""

from __future__ import annotations

import logging
from typing import Any

from .catalog import Catalog
from .store import Store

KEY = "created_models"
log = logging.getLogger("replicate_nb.sandbox")


def save(store: Store, ref: str, snapshot: dict[str, Any] | None) -> None:
    """Keep a created model's snapshot (None: it was deleted). Called under the catalog's lock."""
    saved = store.setting(KEY, {})
    if snapshot is None:
        saved.pop(ref, None)
    else:
        saved[ref] = snapshot
    store.set_setting(KEY, saved)


def restore(store: Store, catalog: Catalog) -> None:
    """Serve again every created model the store keeps, then keep saving their changes."""
    for ref, snapshot in store.setting(KEY, {}).items():
        lost = catalog.restore(snapshot)
        if lost:
            log.warning(
                "%s: versions %s were made by a trainer this sandbox no longer serves; they "
                "are not served",
                ref,
                ", ".join(lost),
            )
    catalog.on_change = lambda ref, snapshot: save(store, ref, snapshot)
