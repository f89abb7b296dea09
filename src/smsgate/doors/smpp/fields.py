""":class:`Refused`: a request the SMPP door cannot take, with the command_status to answer it.

The fields themselves are read in :mod:`.translate` (submits) and :mod:`.commands` (the others);
this exception is what both raise for a value the core cannot take (SMPP 3.4 §5.1.3), and what
:mod:`.statuses` renders as that status in every profile.
"""

from __future__ import annotations

__all__ = ["Refused"]


class Refused(Exception):  # noqa: N818 - a status to answer, not an error
    """The PDU cannot be taken; ``status`` is the command_status to answer it with."""

    def __init__(self, status: int, detail: str = "") -> None:
        super().__init__(detail or f"command_status 0x{status:08x}")
        self.status = status
