"""What every router class holds: the transport it sends its procedures through."""

from __future__ import annotations

from dokploy_api.transport import Transport


class Router:
    """A group of Dokploy procedures (``<router>.*``) sent through one transport."""

    def __init__(self, transport: Transport) -> None:
        self._t = transport
