from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from snakafka.protocol.framing import (
    Frame,
    FrameDecoder,
    FrameError,
    FrameTooLarge,
    frame,
)


@given(st.lists(st.binary(max_size=300), max_size=20), st.data())
def test_frames_survive_any_chunking(payloads: list[bytes], data: st.DataObject) -> None:
    stream = b"".join(frame(p) for p in payloads)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    decoder = FrameDecoder(max_size=1000)
    out: list[Frame] = []
    prev = 0
    for cut in cuts + [len(stream)]:
        out += decoder.feed(stream[prev:cut])
        prev = cut
    assert out == payloads
    assert decoder.buffered == 0


def test_oversized_frame_is_refused_before_buffering() -> None:
    decoder = FrameDecoder(max_size=100)
    with pytest.raises(FrameTooLarge):
        decoder.feed(struct.pack(">i", 101))


def test_negative_size_is_a_framing_error() -> None:
    with pytest.raises(FrameError):
        FrameDecoder(max_size=100).feed(struct.pack(">i", -5) + b"x")


def test_partial_frame_waits_for_more() -> None:
    decoder = FrameDecoder(max_size=100)
    assert decoder.feed(struct.pack(">i", 3) + b"ab") == []
    assert decoder.feed(b"c") == [b"abc"]
