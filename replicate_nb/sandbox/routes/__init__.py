"""The sandbox's `/v1` routes, one module per resource."""

from . import catalog, deployments, files, models, predictions, trainings

ROUTES = [
    *predictions.ROUTES,
    *catalog.ROUTES,
    *models.ROUTES,
    *trainings.ROUTES,
    *files.ROUTES,
    *deployments.ROUTES,
]
