"""The sandbox's resources as plain records, each with the `to_json()` the API answers with.

Records never hold the server's address: URLs are built at serialisation time from the base URL of
the request, so a data directory keeps working when the sandbox restarts on another port.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
from typing import Any

from .._terms import TERMINAL


def now() -> str:
    """The current time as RFC 3339 with microseconds, as Replicate writes it."""
    return format_time(_dt.datetime.now(_dt.UTC))


def format_time(moment: _dt.datetime) -> str:
    """A timestamp as `now()` writes it (UTC, microseconds, `Z`); naive times are taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_dt.UTC)
    stamp = moment.astimezone(_dt.UTC).isoformat(timespec="microseconds")
    return stamp.replace("+00:00", "Z")


def parse_time(value: str) -> _dt.datetime:
    """Parse a timestamp written by `now()`."""
    return _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclasses.dataclass
class Prediction:
    """A prediction; `status` moves starting -> processing -> succeeded | failed | canceled."""

    id: str
    model: str
    version: str
    input: dict[str, Any]
    created_at: str
    status: str = "starting"
    output: Any = None
    logs: str = ""
    error: str | None = None
    started_at: str | None = None
    completed_at: str | None = None
    metrics: dict[str, Any] = dataclasses.field(default_factory=dict)
    source: str = "api"
    deployment: str | None = None
    webhook: str | None = None
    webhook_events_filter: list[str] | None = None
    deadline: str | None = None
    streamable: bool = False
    stream_token: str | None = None  # the capability part of `urls.stream`
    data_removed: bool = False
    destination: str | None = None
    """Set on trainings: the model the training creates a version of."""
    owner: str | None = None
    """The room account it belongs to (None outside a room); never in API answers."""

    @property
    def done(self) -> bool:
        """Whether the prediction reached a terminal status."""
        return self.status in TERMINAL

    def to_json(self, base_url: str) -> dict[str, Any]:
        """The API's prediction object (urls carry only strings: the SDK rejects nulls)."""
        api = f"{base_url}/v1/{'trainings' if self.destination else 'predictions'}/{self.id}"
        urls = {"get": api, "cancel": f"{api}/cancel", "web": f"{base_url}/p/{self.id}"}
        if self.streamable and self.stream_token:
            # a capability URL, as on Replicate: the token makes it work without the API token
            urls["stream"] = f"{base_url}/v1/streams/{self.id}{self.stream_token}"
        body: dict[str, Any] = {
            "id": self.id,
            "model": self.model,
            "version": self.version,
            "input": self.input,
            "logs": self.logs,
            "output": self.output,
            "data_removed": self.data_removed,
            "error": self.error,
            "status": self.status,
            "source": self.source,
            "created_at": self.created_at,
            "urls": urls,
        }
        for key in (
            "started_at",
            "completed_at",
            "deadline",
            "deployment",
            "destination",
            "webhook",
            "webhook_events_filter",
        ):
            value = getattr(self, key)
            if value is not None:
                body[key] = value
        if self.metrics:
            body["metrics"] = self.metrics
        if self.destination and self.output is None:
            del body["output"]  # a training's output is an object or absent, never null
        return body

    def remove_data(self, when: str) -> None:
        """Drop input, output and logs (the store's byte bound), saying when and why."""
        self.input = {}
        self.output = None
        self.logs = (
            f"The sandbox removed this prediction's input, output and logs on {when} to stay "
            "within its storage bound (oldest finished predictions first).\n"
        )
        self.data_removed = True

    def to_row(self) -> dict[str, Any]:
        """Everything, for the store."""
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Prediction:
        """Rebuild from `to_row()`."""
        return cls(**row)


@dataclasses.dataclass
class File:
    """An uploaded file's metadata (its bytes live in the store)."""

    id: str
    name: str
    content_type: str
    size: int
    etag: str
    checksums: dict[str, str]
    metadata: dict[str, Any]
    created_at: str
    expires_at: str
    owner: str | None = None  # the room account it belongs to; never in API answers

    def to_json(self, base_url: str) -> dict[str, Any]:
        """The API's file object; `urls.get` is what clients put into prediction inputs."""
        body = dataclasses.asdict(self)
        del body["owner"]
        return {**body, "urls": {"get": f"{base_url}/v1/files/{self.id}"}}


@dataclasses.dataclass
class Deployment:
    """A deployment: a name that points at a model version and a hardware configuration."""

    owner: str
    name: str
    model: str
    version: str
    hardware: str
    min_instances: int
    max_instances: int
    release_number: int
    release_created_at: str

    def to_json(self, account: dict[str, Any]) -> dict[str, Any]:
        """The API's deployment object."""
        return {
            "owner": self.owner,
            "name": self.name,
            "current_release": {
                "number": self.release_number,
                "model": self.model,
                "version": self.version,
                "created_at": self.release_created_at,
                "created_by": account,
                "configuration": {
                    "hardware": self.hardware,
                    "min_instances": self.min_instances,
                    "max_instances": self.max_instances,
                },
            },
        }
