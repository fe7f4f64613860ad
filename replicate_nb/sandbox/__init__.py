"""An embedded server that speaks Replicate's HTTP API, with deterministic stand-in models.

from replicate_nb import sandbox
with sandbox.start() as sb:
    client = replicate.Client(base_url=sb.base_url)
"""

from .control import Faults
from .server import Sandbox, start

__all__ = ["Faults", "Sandbox", "start"]
