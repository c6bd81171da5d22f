"""Compression codecs of record batches, byte-compatible with Apache Kafka's Java code.

The log cleaner, the coordinators and tests compress and decompress; the produce path
decompresses every compressed batch to validate its records (validation.py), then stores
it verbatim; fetches serve batches as stored. Every codec is backed by cramjam; two of
them need framing of our own because Kafka's Java implementation is particular:

* snappy: the Java client and broker write xerial-framed snappy (SnappyOutputStream:
  magic b"\\x82SNAPPY\\x00", version 1, compatible version 1, then blocks of
  [length i32 BE][raw snappy] over 32 KiB of input each); librdkafka and some other
  clients write one raw snappy block. xerial's reader falls back to raw snappy when the
  magic is missing, so both kinds are in real logs and we read both. We write the xerial
  form, as the Java broker does, which every client reads.
* lz4: the LZ4 *frame* format, but Java's reader (Lz4BlockInputStream) rejects linked
  blocks and block sizes other than 64 KiB..4 MiB. We write exactly what Kafka's
  Lz4BlockOutputStream writes: independent 64 KiB blocks, no block or content checksum,
  no content size. Any valid frame decodes.
* gzip and zstd: standard streams; decoding accepts concatenated members/frames and zstd
  frames without a content size (Java's ZstdOutputStream never writes one).
"""

from __future__ import annotations

import struct

import cramjam

from snakafka.protocol.batch import (
    COMPRESSION_GZIP,
    COMPRESSION_LZ4,
    COMPRESSION_NONE,
    COMPRESSION_SNAPPY,
    COMPRESSION_ZSTD,
)

Buffer = bytes | bytearray | memoryview

CODEC_NAMES = {
    COMPRESSION_NONE: "none",
    COMPRESSION_GZIP: "gzip",
    COMPRESSION_SNAPPY: "snappy",
    COMPRESSION_LZ4: "lz4",
    COMPRESSION_ZSTD: "zstd",
}

XERIAL_MAGIC = b"\x82SNAPPY\x00"
_XERIAL_HEADER = XERIAL_MAGIC + struct.pack(">ii", 1, 1)
_XERIAL_BLOCK_SIZE = 32 * 1024
_I32 = struct.Struct(">i")

# Magic, FLG 0x60 (version 1, independent blocks, no checksums, no content size),
# BD 0x40 (64 KiB blocks), HC = (xxh32(FLG BD) >> 8) & 0xFF: constant for these flags.
_LZ4_FRAME_HEADER = b"\x04\x22\x4d\x18\x60\x40\x82"
_LZ4_END_MARK = b"\x00\x00\x00\x00"
_LZ4_BLOCK_SIZE = 64 * 1024
_LZ4_UNCOMPRESSED = 0x80000000
_U32_LE = struct.Struct("<I")


class CompressionError(Exception):
    """Data that does not decompress with the batch's codec (Kafka: CORRUPT_MESSAGE)."""


def compress(codec: int, data: Buffer) -> bytes:
    """Compress a batch's records section with `codec` (a COMPRESSION_* value)."""
    if codec == COMPRESSION_NONE:
        return bytes(data)
    if codec == COMPRESSION_GZIP:
        return bytes(cramjam.gzip.compress(data))
    if codec == COMPRESSION_SNAPPY:
        return _xerial_compress(data)
    if codec == COMPRESSION_LZ4:
        return _lz4_frame_compress(data)
    if codec == COMPRESSION_ZSTD:
        return bytes(cramjam.zstd.compress(data, level=3))  # Kafka's default level
    raise CompressionError(f"unknown compression codec {codec}")


def decompress(codec: int, data: Buffer) -> bytes | bytearray:
    """Inverse of compress, accepting every variant real clients produce (see module doc)."""
    try:
        if codec == COMPRESSION_NONE:
            return bytes(data)
        if codec == COMPRESSION_GZIP:
            return bytes(cramjam.gzip.decompress(data))
        if codec == COMPRESSION_SNAPPY:
            return _snappy_decompress(data)
        if codec == COMPRESSION_LZ4:
            return _lz4_frame_decompress(data)
        if codec == COMPRESSION_ZSTD:
            return bytes(cramjam.zstd.decompress(data))
    except CompressionError:
        raise
    except Exception as exc:  # cramjam raises its own DecompressionError and ValueError
        raise CompressionError(f"cannot decompress {CODEC_NAMES[codec]} data: {exc}") from exc
    raise CompressionError(f"unknown compression codec {codec}")


def _xerial_compress(data: Buffer) -> bytes:
    view = memoryview(data)
    if not len(view):
        return b""  # xerial's SnappyOutputStream writes its header lazily: nothing at all
    parts = [_XERIAL_HEADER]
    for start in range(0, len(view), _XERIAL_BLOCK_SIZE):
        block = bytes(cramjam.snappy.compress_raw(view[start : start + _XERIAL_BLOCK_SIZE]))
        parts.append(_I32.pack(len(block)))
        parts.append(block)
    return b"".join(parts)


def _snappy_decompress(data: Buffer) -> bytes | bytearray:
    """Raw snappy, or xerial's framing of raw blocks (concatenated streams too). Each raw
    block states its uncompressed length, so the blocks are decoded straight into one
    output buffer (the produce path decompresses every snappy batch to validate it)."""
    view = memoryview(data)
    if not len(view):
        return b""
    if bytes(view[:8]) != XERIAL_MAGIC or len(view) < len(_XERIAL_HEADER):
        blocks = [view]
    else:
        blocks = []
        pos = len(_XERIAL_HEADER)
        end = len(view)
        while pos < end:
            if bytes(view[pos : pos + 8]) == XERIAL_MAGIC:  # concatenated xerial streams
                pos += len(_XERIAL_HEADER)
                continue
            if end - pos < 4:
                raise CompressionError("truncated xerial snappy block length")
            (length,) = _I32.unpack_from(view, pos)
            pos += 4
            if length < 0 or pos + length > end:
                raise CompressionError(f"xerial snappy block of {length} bytes overruns the data")
            blocks.append(view[pos : pos + length])
            pos += length
    out = bytearray(sum(cramjam.snappy.decompress_raw_len(block) for block in blocks))
    target = memoryview(out)
    filled = 0
    for block in blocks:
        filled += cramjam.snappy.decompress_raw_into(block, target[filled:])
    target.release()
    if filled != len(out):
        raise CompressionError(f"snappy blocks decompress to {filled} bytes, not the {len(out)} they state")
    return out


def _lz4_frame_compress(data: Buffer) -> bytes:
    view = memoryview(data)
    parts = [_LZ4_FRAME_HEADER]
    for start in range(0, len(view), _LZ4_BLOCK_SIZE):
        chunk = view[start : start + _LZ4_BLOCK_SIZE]
        block = bytes(cramjam.lz4.compress_block(chunk, store_size=False))
        if len(block) >= len(chunk):  # incompressible: stored as is, flagged in the size
            parts.append(_U32_LE.pack(len(chunk) | _LZ4_UNCOMPRESSED))
            parts.append(bytes(chunk))
        else:
            parts.append(_U32_LE.pack(len(block)))
            parts.append(block)
    parts.append(_LZ4_END_MARK)
    return b"".join(parts)


def _lz4_frame_decompress(data: Buffer) -> bytes | bytearray:
    """LZ4 frames (concatenated ones too) of independent blocks, the kind Kafka's Java
    client, librdkafka and kafka-python write, decoded block by block, straight into the
    output when the frame states its content size: several times faster than cramjam's
    frame decoder, which the produce path feels (every produced batch is decompressed to
    be validated). Checksums are not verified (the batch's CRC-32C covers these bytes).
    Anything else (linked blocks, a malformed frame) goes to cramjam's frame decoder,
    which accepts any valid frame and raises for the rest."""
    view = memoryview(data)
    try:
        out: list[bytes | bytearray] = []
        pos, end = 0, len(view)
        while pos < end:
            if view[pos : pos + 4] != _LZ4_FRAME_HEADER[:4]:
                raise ValueError("not an LZ4 frame")
            flg, bd = view[pos + 4], view[pos + 5]
            if not flg & 0x20:
                raise ValueError("linked blocks")
            known = flg & 0x08
            dest = bytearray(int.from_bytes(view[pos + 6 : pos + 14], "little") if known else 0)
            target = memoryview(dest) if known else None
            filled = 0
            scratch = bytearray(0 if known else 1 << (2 * ((bd >> 4) & 7) + 8))  # largest block: 64 KiB..4 MiB
            pos += 7 + (8 if known else 0) + (4 if flg & 0x01 else 0)  # content size, dictionary id, HC
            while True:
                (size,) = _U32_LE.unpack_from(view, pos)
                pos += 4
                if size == 0:  # end mark
                    break
                stored, size = size & _LZ4_UNCOMPRESSED, size & ~_LZ4_UNCOMPRESSED
                if pos + size > end:
                    raise ValueError("block overruns the frame")
                block = view[pos : pos + size]
                if target is not None:
                    if stored:
                        target[filled : filled + size] = block
                        written = size
                    else:
                        written = cramjam.lz4.decompress_block_into(block, target[filled:])
                    filled += written
                elif stored:
                    dest += block
                else:
                    written = cramjam.lz4.decompress_block_into(block, scratch)
                    dest += memoryview(scratch)[:written]
                pos += size + (4 if flg & 0x10 else 0)  # block checksum
            if target is not None:
                target.release()
                if filled != len(dest):
                    raise ValueError("content size mismatch")
            out.append(dest)
            pos += 4 if flg & 0x04 else 0  # content checksum
        return out[0] if len(out) == 1 else b"".join(out)
    except Exception:  # noqa: BLE001 - the general decoder decides (and raises for bad data)
        return bytes(cramjam.lz4.decompress(view))
