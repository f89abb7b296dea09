"""Errors of the SMPP codec, each carrying what the session should answer.

Like h11's ``ProtocolError.error_status_hint``, every decode error knows the ``command_status``
to answer with (§5.1.3), the command_id of that answer and the sequence number to echo, and
whether the byte stream is lost (``close_connection``) so the session must close the link.

Exception tree::

    Exception
     +-- SmppDecodeError                 bytes from the peer that are not a valid PDU
     |    +-- InvalidCommandLengthError   command_length < 16 or > limit: ESME_RINVCMDLEN, close
     |    +-- UnknownCommandIdError       not in §5.1.2.1: generic_nack ESME_RINVCMDID
     |    +-- TruncatedBodyError          body ends inside a field: ESME_RINVMSGLEN
     |    +-- InvalidParameterLengthError C-Octet String over its maximum: ESME_RINVPARLEN
     |    +-- InvalidDestFlagError        submit_multi dest_flag not 1 or 2: ESME_RINVDESTFLAG
     |    +-- InvalidTlvStreamError       TLV past the end: ESME_RINVOPTPARSTREAM
     |    +-- InvalidTlvValueError        known TLV of the wrong size: ESME_RINVOPTPARAMVAL
     +-- ValueError
          +-- SmppEncodeError             a PDU object that cannot be put on the wire
"""

from __future__ import annotations

from typing import ClassVar

from smsgate.smpp.constants import RESPONSE_BIT, CommandId, CommandStatus

__all__ = [
    "InvalidCommandLengthError",
    "InvalidDestFlagError",
    "InvalidParameterLengthError",
    "InvalidTlvStreamError",
    "InvalidTlvValueError",
    "SmppDecodeError",
    "SmppEncodeError",
    "TruncatedBodyError",
    "UnknownCommandIdError",
    "response_command_id",
]

# Requests that have a response of their own (§4); outbind and alert_notification have none.
_REQUESTS_WITH_RESPONSE = frozenset(
    c for c in CommandId if not c & RESPONSE_BIT and (c | RESPONSE_BIT) in set(CommandId)
)


def response_command_id(command_id: int | None) -> int:
    """The command_id answering an erroneous ``command_id``: its own ``*_resp`` for a request
    that has one, otherwise generic_nack (§4.3: generic_nack answers a PDU that cannot be
    answered by its own response, including an erroneous response)."""
    if command_id is not None and command_id in _REQUESTS_WITH_RESPONSE:
        return command_id | RESPONSE_BIT
    return CommandId.GENERIC_NACK


class SmppDecodeError(Exception):
    """Bytes that are not a valid SMPP 3.4 PDU.

    ``command_status`` is what to answer with; ``response_command_id`` the command to answer
    with (the request's ``*_resp`` or generic_nack); ``sequence_number`` the one to echo (0 when
    the header was not there to read); ``close_connection`` says the stream cannot be resynced.
    """

    command_status: ClassVar[CommandStatus] = CommandStatus.ESME_RSYSERR
    close_connection: ClassVar[bool] = False

    def __init__(
        self, message: str, *, command_id: int | None = None, sequence_number: int = 0
    ) -> None:
        super().__init__(message)
        self.command_id = command_id
        self.sequence_number = sequence_number

    @property
    def response_command_id(self) -> int:
        return response_command_id(self.command_id)


class InvalidCommandLengthError(SmppDecodeError):
    """command_length under 16 or over the limit (§3.2): the framing is lost, close the link."""

    command_status = CommandStatus.ESME_RINVCMDLEN
    close_connection = True

    @property
    def response_command_id(self) -> int:
        return CommandId.GENERIC_NACK


class UnknownCommandIdError(SmppDecodeError):
    """A command_id SMPP 3.4 does not define: answer generic_nack ESME_RINVCMDID (§4.3)."""

    command_status = CommandStatus.ESME_RINVCMDID

    @property
    def response_command_id(self) -> int:
        return CommandId.GENERIC_NACK


class TruncatedBodyError(SmppDecodeError):
    """The body ends inside a mandatory field (a missing NUL, a short sm_length...)."""

    command_status = CommandStatus.ESME_RINVMSGLEN


class InvalidParameterLengthError(SmppDecodeError):
    """A C-Octet String longer than its maximum in the chapter 4 tables."""

    command_status = CommandStatus.ESME_RINVPARLEN


class InvalidDestFlagError(SmppDecodeError):
    """submit_multi dest_flag other than 1 (SME address) or 2 (distribution list), §5.2.25."""

    command_status = CommandStatus.ESME_RINVDESTFLAG


class InvalidTlvStreamError(SmppDecodeError):
    """A TLV header cut short or a TLV length running past the PDU (§3.2.4, §5.3.1)."""

    command_status = CommandStatus.ESME_RINVOPTPARSTREAM


class InvalidTlvValueError(SmppDecodeError):
    """A known TLV whose value does not have its §5.3.2 size, found when read as typed."""

    command_status = CommandStatus.ESME_RINVOPTPARAMVAL


class SmppEncodeError(ValueError):
    """A PDU object that cannot be encoded: a field too long or out of its integer range."""
