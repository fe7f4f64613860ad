"""The OpenAPI 3.0.2 document Cog writes around a model's `Input` and `Output` schemas.

Everything but those two schemas (and their enum components) is the same for every model: the
prediction request and response, the validation error shapes and Cog's four routes.
"""

from __future__ import annotations

from typing import Any

COG_VERSION = "0.16.0"
"""The `cog_version` registered models report (the generator whose rules the schema follows)."""


def openapi_document(
    input_schema: dict[str, Any], output: dict[str, Any], enums: list[tuple[str, dict[str, Any]]]
) -> dict[str, Any]:
    """The whole OpenAPI 3.0.2 document Cog writes around an Input and an Output schema."""
    ok = {"description": "Successful Response", "content": {"application/json": {"schema": {}}}}
    invalid = {
        "description": "Validation Error",
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}
        },
    }
    ref = "#/components/schemas/"
    timestamp = {"type": "string", "format": "date-time"}
    text = {"type": "string"}
    components: dict[str, Any] = {"Input": input_schema, "Output": output, **dict(enums)}
    components.update(
        {
            "PredictionRequest": {
                "title": "PredictionRequest",
                "type": "object",
                "properties": {"id": {"title": "Id", **text}, "input": {"$ref": ref + "Input"}},
            },
            "PredictionResponse": {
                "title": "PredictionResponse",
                "type": "object",
                "properties": {
                    "input": {"$ref": ref + "Input"},
                    "output": {"$ref": ref + "Output"},
                    "id": {"title": "Id", **text},
                    "version": {"title": "Version", **text},
                    "created_at": {"title": "Created At", **timestamp},
                    "started_at": {"title": "Started At", **timestamp},
                    "completed_at": {"title": "Completed At", **timestamp},
                    "status": {"title": "Status", **text},
                    "error": {"title": "Error", **text},
                    "logs": {"title": "Logs", **text},
                    "metrics": {"title": "Metrics", "type": "object"},
                },
            },
            "Status": {
                "title": "Status",
                "description": "An enumeration.",
                "type": "string",
                "enum": ["starting", "processing", "succeeded", "canceled", "failed"],
            },
            "HTTPValidationError": {
                "title": "HTTPValidationError",
                "type": "object",
                "properties": {
                    "detail": {
                        "title": "Detail",
                        "type": "array",
                        "items": {"$ref": ref + "ValidationError"},
                    }
                },
            },
            "ValidationError": {
                "title": "ValidationError",
                "required": ["loc", "msg", "type"],
                "type": "object",
                "properties": {
                    "loc": {
                        "title": "Location",
                        "type": "array",
                        "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                    },
                    "msg": {"title": "Message", **text},
                    "type": {"title": "Error Type", **text},
                },
            },
        }
    )
    cancel = {
        "summary": "Cancel",
        "operationId": "cancel_predictions__prediction_id__cancel_post",
        "parameters": [
            {
                "required": True,
                "schema": {"title": "Prediction Id", **text},
                "name": "prediction_id",
                "in": "path",
            }
        ],
        "responses": {"200": ok, "422": invalid},
    }
    predict = {
        "summary": "Predict",
        "description": "Run a single prediction on the model",
        "operationId": "predict_predictions_post",
        "requestBody": {
            "content": {"application/json": {"schema": {"$ref": ref + "PredictionRequest"}}}
        },
        "responses": {
            "200": {
                "description": "Successful Response",
                "content": {"application/json": {"schema": {"$ref": ref + "PredictionResponse"}}},
            },
            "422": invalid,
        },
    }
    return {
        "openapi": "3.0.2",
        "info": {"title": "Cog", "version": COG_VERSION},
        "paths": {
            "/": {"get": {"summary": "Root", "operationId": "root__get", "responses": {"200": ok}}},
            "/health-check": {
                "get": {
                    "summary": "Healthcheck",
                    "responses": {"200": ok},
                    "operationId": "healthcheck_health_check_get",
                }
            },
            "/predictions": {"post": predict},
            "/predictions/{prediction_id}/cancel": {"post": cancel},
        },
        "components": {"schemas": components},
    }
