"""Request ids: Alibaba's shape (an upper-case version 4 UUID), never repeated, not in a fork."""

from __future__ import annotations

import os
import uuid

from smsgate.doors.aliyun import render


def test_a_request_id_is_an_upper_case_version_4_uuid() -> None:
    for request_id in [render.new_request_id() for _ in range(1000)]:
        parsed = uuid.UUID(request_id)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed).upper() == request_id


def test_request_ids_are_not_repeated_across_draws() -> None:
    ids = [render.new_request_id() for _ in range(3000)]  # several draws of 256
    assert len(set(ids)) == len(ids)


def test_a_draw_formats_each_16_bytes_as_one_id() -> None:
    assert render.draw_request_ids(2, lambda n: bytes(range(n))) == [
        "00010203-0405-4607-8809-0A0B0C0D0E0F",
        "10111213-1415-4617-9819-1A1B1C1D1E1F",
    ]


def test_a_forked_child_does_not_hand_out_its_parents_drawn_ids() -> None:
    render.new_request_id()  # the parent holds undrawn ids now
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.close(read)
        os.write(write, render.new_request_id().encode())
        os._exit(0)
    os.close(write)
    child_id = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert len(child_id) == 36
    assert child_id not in {render.new_request_id() for _ in range(256)}
