"""Upstream connectors in a child process, so that they run on another core than the server's
loop: :mod:`.wire` (the frames between the two), :mod:`.child` (the child's program) and
:mod:`.parent` (:class:`ConnectorProcess` and its :class:`ProcessConnector` carriers)."""

from .parent import ConnectorProcess, ConnectorProcessError, ProcessConnector

__all__ = ["ConnectorProcess", "ConnectorProcessError", "ProcessConnector"]
