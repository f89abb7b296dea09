"""Long messages sent as several submit_sm: telling the parts apart and putting them together.

An ESME sends a text longer than one ``short_message`` in one of three ways (SMPP 3.4 §2.2.1.2,
§5.3.2.22-24, §5.3.2.32):

1. **UDH concatenation**: ``esm_class`` has UDHI (0x40, §5.2.12) and ``short_message`` starts
   with a user data header holding a concatenation element (TS 23.040 §9.2.3.24.1: IEI 0x00,
   8-bit reference; §9.2.3.24.8: IEI 0x08, 16-bit reference), as :func:`~smsgate.domain.text.
   encode_parts` builds them.
2. **SAR TLVs**: ``sar_msg_ref_num`` (2 octets), ``sar_total_segments`` and
   ``sar_segment_seqnum`` (1 octet each) next to a header-less ``short_message``.
3. **message_payload**: the whole text in one TLV. That is already one message; the door reads
   it without this module.

:func:`part_of` (and :func:`part_of_pdu` for a decoded PDU) says which: the body of a whole
message (``bytes``) or a :class:`Part` to hand to a :class:`Reassembler`, which holds parts per
``(key, reference, total)`` until all have come and returns them joined in part order. The bodies
are joined *before* decoding, so an escape or a surrogate pair another sender cut between two
parts decodes whole; decoding is the door's job.

Everything here is sans-IO: no sockets, no clock. The caller passes ``now`` (any monotonic
clock, in seconds), so a group that never completes is dropped by :meth:`Reassembler.expire`
at a time the caller chooses, and tests need no sleeping.

Refusals are :class:`ConcatError` with the ``command_status`` (§5.1.3) to answer that PDU with:

- ``ESME_RINVESMCLASS`` (0x43): UDHI set but the header is malformed or numbers the parts wrong;
- ``ESME_RINVOPTPARAMVAL`` (0xC4): SAR values out of range, of the wrong size, or contradicting
  the header's concatenation element;
- ``ESME_RMISSINGOPTPARAM`` (0xC3): some of the three SAR TLVs but not all;
- ``ESME_RINVDCS`` (0x104, SMPP 5.0, which the door already answers for undecodable text): a part
  whose ``data_coding`` differs from its group's (:class:`DataCodingMismatchError`);
- ``ESME_RSUBMITFAIL`` (0x45): a part number the group already has (:class:`DuplicatePartError`);
- ``ESME_RMSGQFUL`` (0x14): the reassembler holds as many groups or bytes as it may
  (:class:`ReassemblyFullError`).

Fields other than the body may differ between parts. ``registered_delivery`` does in practice:
Kannel asks for a receipt on the first part only, Jasmin and smpplib on every part, others on the
last; :func:`strongest_receipt_request` gives the whole message the strongest request of its parts.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import Final, Generic, TypeVar

from smsgate.domain.text import concatenation_element, split_udh
from smsgate.smpp.constants import ESME_RINVDCS, UDHI, CommandStatus, TlvTag
from smsgate.smpp.errors import InvalidTlvValueError
from smsgate.smpp.pdu import DeliverSm, SubmitSm

__all__ = [
    "MAX_REFERENCE",
    "MAX_TOTAL",
    "Completed",
    "ConcatError",
    "DataCodingMismatchError",
    "DuplicatePartError",
    "Expired",
    "Part",
    "Reassembler",
    "ReassemblyFullError",
    "part_of",
    "part_of_pdu",
    "strongest_receipt_request",
]

#: The concatenation header and the SAR TLVs count parts in one octet.
MAX_TOTAL: Final = 255
#: ``sar_msg_ref_num`` is two octets (§5.3.2.22); an 8- or 16-bit UDH reference fits too.
MAX_REFERENCE: Final = 0xFFFF

#: ``registered_delivery`` bits 0-1 (§5.2.17) ranked by what they ask for: 1, a receipt for
#: every outcome, includes 2's receipt for failures only; 0 and the reserved 3 ask for none.
_RECEIPT_RANK: Final = {1: 2, 2: 1}
_RECEIPT_BITS: Final = 0x03

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


class ConcatError(ValueError):
    """A part the door must refuse; ``status`` is the ``command_status`` to answer its PDU with.

    A ``ValueError`` because every cause is a value the ESME sent, never a fault of ours.
    """

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class DuplicatePartError(ConcatError):
    """The group already holds a part with this number. The first one is kept and the group
    goes on waiting: replacing it would leave the first PDU's answer unaccounted for, and
    an ESME that resends a part it had no answer for is better told than silently merged."""

    def __init__(self, message: str) -> None:
        super().__init__(message, CommandStatus.ESME_RSUBMITFAIL)


class DataCodingMismatchError(ConcatError):
    """A part whose ``data_coding`` differs from the group's: the joined bytes could not be
    decoded as one text. The group goes on waiting for a part in its own coding."""

    def __init__(self, message: str) -> None:
        super().__init__(message, ESME_RINVDCS)


class ReassemblyFullError(ConcatError):
    """The reassembler holds ``max_groups`` groups or ``max_bytes`` octets. The part is refused
    rather than an older group evicted: eviction would fail a message whose parts were all
    answered as pending, while ESME_RMSGQFUL tells this ESME to retry later (§5.1.3)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, CommandStatus.ESME_RMSGQFUL)


@dataclass(frozen=True, slots=True)
class Part:
    """Part ``number`` of ``total`` of the message ``reference``, with its user data less any
    header. Only :func:`part_of` is expected to build these from the wire; the checks here
    guard the :class:`Reassembler`'s counting (``number <= total``) against other callers."""

    reference: int
    total: int
    number: int
    body: bytes

    def __post_init__(self) -> None:
        if not 0 <= self.reference <= MAX_REFERENCE:
            raise ValueError(f"reference {self.reference} is outside 0-{MAX_REFERENCE}")
        if not 1 <= self.total <= MAX_TOTAL:
            raise ValueError(f"total {self.total} is outside 1-{MAX_TOTAL}")
        if not 1 <= self.number <= self.total:
            raise ValueError(f"part number {self.number} is outside 1-{self.total}")


def part_of(
    esm_class: int,
    short_message: bytes,
    *,
    sar_msg_ref_num: int | None = None,
    sar_total_segments: int | None = None,
    sar_segment_seqnum: int | None = None,
) -> bytes | Part:
    """The body of a whole message (``bytes``), or the :class:`Part` of a long one that
    ``short_message`` carries; :class:`ConcatError` for a malformed header or SAR values.

    With UDHI set in ``esm_class`` the header is skipped by its UDHL and its concatenation
    element, if any, numbers the part; other elements (port addressing...) are skipped by their
    length and not passed on, and a concatenation element of the wrong length is skipped like
    them, as :func:`~smsgate.domain.text.decode_parts` reads headers. Without UDHI the whole
    ``short_message`` is the body, whatever its first octet looks like. The SAR values number
    the part when all three are given; when a header numbers it too, both must agree.

    A part 1 of 1 is a whole message. The door may pass a ``message_payload`` value as
    ``short_message``: a header or SAR values there are read the same way.
    """
    body = short_message
    concat: tuple[int, int, int] | None = None
    if esm_class & UDHI:
        try:
            elements, body = split_udh(short_message)
            concat = concatenation_element(elements)
        except ValueError as exc:
            raise ConcatError(str(exc), CommandStatus.ESME_RINVESMCLASS) from None
        if concat is not None:
            _, total, number = concat
            _check_numbering(total, number, "user data header", CommandStatus.ESME_RINVESMCLASS)
    sar = _sar(sar_msg_ref_num, sar_total_segments, sar_segment_seqnum)
    if sar is not None:
        if concat is not None and concat != sar:
            raise ConcatError(
                f"SAR TLVs (reference, total, number) {sar} contradict the user data "
                f"header's {concat}",
                CommandStatus.ESME_RINVOPTPARAMVAL,
            )
        concat = sar
    if concat is None or concat[1] == 1:
        return body
    reference, total, number = concat
    return Part(reference, total, number, body)


def part_of_pdu(pdu: SubmitSm | DeliverSm) -> bytes | Part:
    """:func:`part_of` for a decoded PDU: its ``esm_class``, ``short_message`` and SAR TLVs.

    A SAR TLV of the wrong size is refused with ESME_RINVOPTPARAMVAL like the codec's own
    TLV checks. ``message_payload`` is not looked at: the door reads it first.
    """
    try:
        ref = pdu.tlv_int(TlvTag.SAR_MSG_REF_NUM)
        total = pdu.tlv_int(TlvTag.SAR_TOTAL_SEGMENTS)
        seq = pdu.tlv_int(TlvTag.SAR_SEGMENT_SEQNUM)
    except InvalidTlvValueError as exc:
        raise ConcatError(str(exc), CommandStatus.ESME_RINVOPTPARAMVAL) from None
    return part_of(
        pdu.esm_class,
        pdu.short_message,
        sar_msg_ref_num=ref,
        sar_total_segments=total,
        sar_segment_seqnum=seq,
    )


def strongest_receipt_request(values: Iterable[int]) -> int:
    """The ``registered_delivery`` of a message sent in parts whose ``values`` (in part order)
    differ: any part asking for a receipt asks for the message's.

    The receipt bits (0-1) are those of the strongest request (1 before 2 before none, the
    first part's among equals); the other bits (SME acknowledgement, intermediate notification)
    are set when any part sets them.
    """
    strongest = rank = others = 0
    first = True
    for value in values:
        asked = _RECEIPT_RANK.get(value & _RECEIPT_BITS, 0)
        if first or asked > rank:
            strongest, rank, first = value & _RECEIPT_BITS, asked, False
        others |= value & ~_RECEIPT_BITS
    if first:
        raise ValueError("a message has at least one part")
    return others | strongest


def _sar(ref: int | None, total: int | None, seq: int | None) -> tuple[int, int, int] | None:
    """(reference, total, number) from the SAR TLVs, or ``None`` when none is present.

    §5.3.2.22-24 make the three TLVs a set: with only some of them the part cannot be placed.
    """
    values = (ref, total, seq)
    if all(value is None for value in values):
        return None
    if ref is None or total is None or seq is None:
        missing = [
            name
            for name, value in zip(
                ("sar_msg_ref_num", "sar_total_segments", "sar_segment_seqnum"),
                values,
                strict=True,
            )
            if value is None
        ]
        raise ConcatError(
            f"SAR TLVs come as a set of three; missing {', '.join(missing)}",
            CommandStatus.ESME_RMISSINGOPTPARAM,
        )
    if not 0 <= ref <= MAX_REFERENCE:
        raise ConcatError(
            f"sar_msg_ref_num {ref} is outside 0-{MAX_REFERENCE}",
            CommandStatus.ESME_RINVOPTPARAMVAL,
        )
    _check_numbering(total, seq, "SAR TLVs", CommandStatus.ESME_RINVOPTPARAMVAL)
    return ref, total, seq


def _check_numbering(total: int, number: int, where: str, status: int) -> None:
    """Refuse a count of 0 and a number outside 1..count. TS 23.040 §9.2.3.24.1 lets a handset
    ignore such an element, but an SMSC that did so would send fragments as whole messages: the
    ESME is told instead."""
    if not 1 <= total <= MAX_TOTAL:
        raise ConcatError(f"{where}: part count {total} is outside 1-{MAX_TOTAL}", status)
    if not 1 <= number <= total:
        raise ConcatError(f"{where}: part number {number} is outside 1-{total}", status)


@dataclass(frozen=True, slots=True)
class Completed(Generic[K, T]):
    """A message whose parts have all come: ``body`` is their bodies joined in part order and
    ``tags`` the caller's tags in the same order, so the door can answer every part's PDU."""

    key: K
    reference: int
    total: int
    data_coding: int
    body: bytes
    tags: tuple[T, ...]
    #: ``now`` when the first part of the group arrived.
    started: float


@dataclass(frozen=True, slots=True)
class Expired(Generic[K, T]):
    """A group dropped by :meth:`Reassembler.expire` before all its parts came: ``numbers`` are
    the part numbers that had come, in order, and ``tags`` theirs, so the door can answer each
    of those PDUs with an error."""

    key: K
    reference: int
    total: int
    data_coding: int
    numbers: tuple[int, ...]
    tags: tuple[T, ...]
    started: float


@dataclass(slots=True)
class _Group(Generic[T]):
    data_coding: int
    started: float
    parts: dict[int, tuple[bytes, T]] = field(default_factory=dict)
    size: int = 0  # octets of body held


class Reassembler(Generic[K, T]):
    """Parts of long messages waiting for their siblings, grouped by ``(key, reference, total)``.

    ``key`` is the caller's (the door uses account, source and destination addresses): a
    reference only tells apart one sender's concurrent messages to one recipient, so two
    groups with the same reference but different keys never mix. The total is part of the
    group too: a part announcing another count cannot belong to the same message.

    Memory is bounded twice: at most ``max_groups`` groups and ``max_bytes`` octets of bodies are
    held, and a part past either bound is refused with :class:`ReassemblyFullError`; a part
    that completes its group is always taken, since it frees the group's memory at once. Groups
    are kept in order of their first part's arrival, which is also the order of their
    deadlines, so :meth:`add`, :meth:`expire` (per dropped group) and :meth:`next_deadline`
    are O(1), given ``now`` never goes back.

    :meth:`add` does not expire anything itself: the tags of an expired group must reach the
    caller, so the caller runs :meth:`expire` (at :meth:`next_deadline`, and before adding if
    it wants stale groups out of the bounds).
    """

    def __init__(
        self,
        *,
        timeout_s: float = 60.0,
        max_groups: int = 10_000,
        max_bytes: int = 16 * 1024 * 1024,
    ) -> None:
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be positive, not {timeout_s}")
        if max_groups < 1 or max_bytes < 1:
            raise ValueError("max_groups and max_bytes must be at least 1")
        self.timeout_s = timeout_s
        self.max_groups = max_groups
        self.max_bytes = max_bytes
        # OrderedDict, not dict: popping the oldest group stays O(1), where a dict's iterator
        # would walk over the holes left by groups removed from its front.
        self._groups: OrderedDict[tuple[K, int, int], _Group[T]] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        """Number of groups waiting for parts."""
        return len(self._groups)

    @property
    def held_bytes(self) -> int:
        """Octets of part bodies held, counted against ``max_bytes``."""
        return self._bytes

    def add(
        self, key: K, part: Part, *, data_coding: int, now: float, tag: T
    ) -> Completed[K, T] | None:
        """Hold ``part`` of the message ``(key, part.reference, part.total)``; the
        :class:`Completed` message when it was the last missing part, else ``None``.

        ``tag`` is the caller's handle on the part's PDU (a sequence number, a future...),
        given back in :class:`Completed` or :class:`Expired`. A refused part is not held and
        leaves its group as it was: :class:`DuplicatePartError`, :class:`DataCodingMismatchError`
        or :class:`ReassemblyFullError`.
        """
        group_id = (key, part.reference, part.total)
        group = self._groups.get(group_id)
        if group is not None:
            if data_coding != group.data_coding:
                raise DataCodingMismatchError(
                    f"part {part.number} of message {part.reference} has data_coding "
                    f"{data_coding}, its first part {group.data_coding}"
                )
            if part.number in group.parts:
                raise DuplicatePartError(
                    f"part {part.number} of {part.total} of message {part.reference} came twice"
                )
        held = 0 if group is None else len(group.parts)
        if held + 1 < part.total:  # the part will be held: check the bounds
            if group is None and len(self._groups) >= self.max_groups:
                raise ReassemblyFullError(f"{self.max_groups} messages are being reassembled")
            if self._bytes + len(part.body) > self.max_bytes:
                raise ReassemblyFullError(f"{self._bytes} octets of parts are held")
        elif group is None:  # a part 1 of 1: nothing to wait for
            return Completed(key, part.reference, 1, data_coding, part.body, (tag,), started=now)
        if group is None:
            group = self._groups[group_id] = _Group(data_coding, now)
        group.parts[part.number] = (part.body, tag)
        group.size += len(part.body)
        self._bytes += len(part.body)
        if len(group.parts) < part.total:
            return None
        del self._groups[group_id]
        self._bytes -= group.size
        ordered = [group.parts[number] for number in range(1, part.total + 1)]
        return Completed(
            key,
            part.reference,
            part.total,
            data_coding,
            b"".join(body for body, _ in ordered),
            tuple(tag for _, tag in ordered),
            started=group.started,
        )

    def expire(self, now: float) -> list[Expired[K, T]]:
        """Drop the groups whose first part came ``timeout_s`` or more before ``now``, oldest
        first, and return them so the caller can answer their parts."""
        expired: list[Expired[K, T]] = []
        while self._groups:
            (key, reference, total), group = next(iter(self._groups.items()))
            if now - group.started < self.timeout_s:
                break
            self._groups.popitem(last=False)
            self._bytes -= group.size
            numbers = tuple(sorted(group.parts))
            expired.append(
                Expired(
                    key,
                    reference,
                    total,
                    group.data_coding,
                    numbers,
                    tuple(group.parts[number][1] for number in numbers),
                    started=group.started,
                )
            )
        return expired

    def next_deadline(self) -> float | None:
        """When :meth:`expire` will next drop a group (the oldest group's first arrival plus
        ``timeout_s``), or ``None`` when nothing is waiting."""
        for group in self._groups.values():
            return group.started + self.timeout_s
        return None
