"""Codecs against the reference Python bindings and kafka-python's codec module: what we
write must be readable by real clients, and what they write must be readable by us."""

from __future__ import annotations

import gzip
import os

import lz4.frame
import pytest
import snappy
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka import codec as kafka_codec

from snakafka.protocol.batch import (
    COMPRESSION_GZIP,
    COMPRESSION_LZ4,
    COMPRESSION_NONE,
    COMPRESSION_SNAPPY,
    COMPRESSION_ZSTD,
)
from snakafka.protocol.compression import (
    XERIAL_MAGIC,
    CompressionError,
    compress,
    decompress,
)

CODECS = [COMPRESSION_NONE, COMPRESSION_GZIP, COMPRESSION_SNAPPY, COMPRESSION_LZ4, COMPRESSION_ZSTD]
# Empty, tiny, incompressible across several 64 KiB lz4 / 32 KiB xerial blocks, compressible.
SAMPLES = [b"", b"x", os.urandom(150_000), b"kafka " * 40_000]


@settings(max_examples=60, deadline=None)
@given(codec=st.sampled_from(CODECS), data=st.binary(max_size=3000))
def test_round_trip(codec: int, data: bytes) -> None:
    assert decompress(codec, compress(codec, data)) == data


@pytest.mark.parametrize("data", SAMPLES, ids=lambda d: f"{len(d)}B")
def test_gzip_interop(data: bytes) -> None:
    assert gzip.decompress(compress(COMPRESSION_GZIP, data)) == data
    assert decompress(COMPRESSION_GZIP, gzip.compress(data)) == data
    # Concatenated members, as Java's GZIPInputStream accepts.
    assert decompress(COMPRESSION_GZIP, gzip.compress(data) + gzip.compress(b"tail")) == data + b"tail"


@pytest.mark.parametrize("data", SAMPLES, ids=lambda d: f"{len(d)}B")
def test_lz4_writes_the_frame_java_reads(data: bytes) -> None:
    frame = compress(COMPRESSION_LZ4, data)
    info = lz4.frame.get_frame_info(frame)  # also verifies the header checksum byte
    assert info["block_linked"] is False  # Kafka's Lz4BlockInputStream rejects linked blocks
    assert info["block_size_id"] == 4  # 64 KiB, as Kafka's Lz4BlockOutputStream
    assert not info["content_checksum"] and not info["block_checksum"]
    assert lz4.frame.decompress(frame) == data


@pytest.mark.parametrize("data", SAMPLES, ids=lambda d: f"{len(d)}B")
@pytest.mark.parametrize("linked", [False, True])
def test_lz4_reads_any_frame(data: bytes, linked: bool) -> None:
    frame = lz4.frame.compress(data, block_linked=linked, content_checksum=True, block_checksum=True, store_size=True)
    assert decompress(COMPRESSION_LZ4, frame) == data
    assert decompress(COMPRESSION_LZ4, kafka_codec.lz4_encode(data)) == data


@settings(max_examples=40, deadline=None)
@given(parts=st.lists(st.tuples(st.binary(max_size=300_000).map(lambda b: b + b[: len(b) // 2] * 3),
                                st.sampled_from([4, 5, 6, 7]), st.booleans(), st.booleans(), st.booleans()),
                      min_size=1, max_size=3))
def test_lz4_block_by_block_decoder_matches_the_frame_decoder(parts: list[tuple[bytes, int, bool, bool, bool]]) -> None:
    """The fast path (independent blocks decoded one by one) on concatenated frames with
    every block size and checksum/size flag; linked-block frames fall back and still decode."""
    frames = b"".join(lz4.frame.compress(data, block_size=size, block_linked=linked, content_checksum=checks,
                                         block_checksum=checks, store_size=store)
                      for data, size, linked, checks, store in parts)
    assert decompress(COMPRESSION_LZ4, frames) == b"".join(data for data, *_ in parts)


@pytest.mark.parametrize("data", SAMPLES[1:], ids=lambda d: f"{len(d)}B")
def test_snappy_writes_xerial_like_java(data: bytes) -> None:
    out = compress(COMPRESSION_SNAPPY, data)
    assert out.startswith(XERIAL_MAGIC + b"\x00\x00\x00\x01\x00\x00\x00\x01")
    assert kafka_codec.snappy_decode(out) == data


def test_snappy_of_nothing_is_nothing() -> None:
    # xerial's SnappyOutputStream writes its header only with the first block.
    assert compress(COMPRESSION_SNAPPY, b"") == b""
    assert decompress(COMPRESSION_SNAPPY, b"") == b""


@pytest.mark.parametrize("data", SAMPLES, ids=lambda d: f"{len(d)}B")
def test_snappy_reads_raw_and_xerial(data: bytes) -> None:
    assert decompress(COMPRESSION_SNAPPY, snappy.compress(data)) == data  # librdkafka's raw form
    xerial = kafka_codec.snappy_encode(data, xerial_compatible=True)
    assert decompress(COMPRESSION_SNAPPY, xerial) == data
    assert decompress(COMPRESSION_SNAPPY, xerial + xerial) == data + data  # concatenated streams


@pytest.mark.parametrize("data", SAMPLES, ids=lambda d: f"{len(d)}B")
def test_zstd_interop(data: bytes) -> None:
    assert zstandard.ZstdDecompressor().decompressobj().decompress(compress(COMPRESSION_ZSTD, data)) == data
    streamed = zstandard.ZstdCompressor(write_content_size=False)
    frame = streamed.compress(data)
    obj = streamed.compressobj()
    chunked = obj.compress(data) + obj.flush()  # how Java's ZstdOutputStream writes: no content size
    assert decompress(COMPRESSION_ZSTD, frame) == data
    assert decompress(COMPRESSION_ZSTD, chunked) == data
    assert decompress(COMPRESSION_ZSTD, frame + frame) == data + data


GARBAGE = [
    (COMPRESSION_GZIP, b"\x01" * 40),
    (COMPRESSION_SNAPPY, b"\xff" * 40),  # raw snappy with an impossible length
    (COMPRESSION_SNAPPY, XERIAL_MAGIC + bytes.fromhex("0000000100000001 7fffffff")),  # block overruns
    (COMPRESSION_LZ4, b"\x01" * 40),
    (COMPRESSION_ZSTD, b"\x01" * 40),
]


@pytest.mark.parametrize(("codec", "data"), GARBAGE)
def test_garbage_raises_compression_error(codec: int, data: bytes) -> None:
    with pytest.raises(CompressionError):
        decompress(codec, data)


def test_unknown_codec() -> None:
    with pytest.raises(CompressionError):
        compress(5, b"x")
    with pytest.raises(CompressionError):
        decompress(7, b"x")


def test_lz4_independent_blocks_do_not_need_the_frame_decoder(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast path really decodes Kafka's frames itself (the frame decoder is ~6x slower)."""
    import cramjam

    data = os.urandom(50_000) * 4
    frame = compress(COMPRESSION_LZ4, data)

    def refuse(_data: object) -> bytes:
        raise AssertionError("the frame decoder was used")

    monkeypatch.setattr(cramjam.lz4, "decompress", refuse)
    assert decompress(COMPRESSION_LZ4, frame) == data
    assert decompress(COMPRESSION_LZ4, lz4.frame.compress(data, block_linked=False, block_checksum=True)) == data
