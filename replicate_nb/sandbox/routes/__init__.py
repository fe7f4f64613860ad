"""The sandbox's `/v1` routes, one module per resource."""

from . import catalog, deployments, files, predictions

ROUTES = [*predictions.ROUTES, *catalog.ROUTES, *files.ROUTES, *deployments.ROUTES]
