"""Incremental decompression (gzip, deflate, brotli, zstd) with the byte cap counted after decoding."""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import brotli
import zstandard

from newsflow.transforms.fetch.transport import TotalTimeout

READ_CHUNK = 65536
_ZSTD_FEED = 32
"""zstd has no output bound per call; a 32-byte input slice holds at most ~8 blocks of 128 KiB."""


class BodyTooLarge(Exception):
    pass


class UnsupportedEncoding(Exception):
    pass


Decoder = Callable[[bytes], Iterator[bytes]]


def _zlib_decoder(gzip: bool) -> tuple[Decoder, Callable[[], Iterator[bytes]]]:
    state: dict[str, Any] = {"obj": None}

    def make(first: bytes) -> Any:
        if gzip:
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        # "deflate" is meant to be zlib-wrapped, but servers also send raw deflate.
        wrapped = len(first) >= 2 and (first[0] & 0x0F) == 8 and ((first[0] << 8) | first[1]) % 31 == 0
        return zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)

    def feed(data: bytes) -> Iterator[bytes]:
        while data:
            if state["obj"] is None:
                state["obj"] = make(data)
            obj = state["obj"]
            out = obj.decompress(data, READ_CHUNK)
            if out:
                yield out
            while obj.unconsumed_tail:
                out = obj.decompress(obj.unconsumed_tail, READ_CHUNK)
                if out:
                    yield out
            data = b""
            if gzip and obj.eof and obj.unused_data:  # concatenated gzip members
                data, state["obj"] = obj.unused_data, None

    def flush() -> Iterator[bytes]:
        if state["obj"] is not None:
            out = state["obj"].flush()
            if out:
                yield out

    return feed, flush


def _brotli_decoder() -> tuple[Decoder, Callable[[], Iterator[bytes]]]:
    decompressor = brotli.Decompressor()

    def feed(data: bytes) -> Iterator[bytes]:
        out = decompressor.process(data, output_buffer_limit=READ_CHUNK)
        if out:
            yield out
        while not decompressor.can_accept_more_data():
            out = decompressor.process(b"", output_buffer_limit=READ_CHUNK)
            if not out:
                break
            yield out

    def flush() -> Iterator[bytes]:
        return iter(())

    return feed, flush


def _zstd_decoder() -> tuple[Decoder, Callable[[], Iterator[bytes]]]:
    obj = zstandard.ZstdDecompressor().decompressobj(read_across_frames=True)

    def feed(data: bytes) -> Iterator[bytes]:
        view = memoryview(data)
        for start in range(0, len(view), _ZSTD_FEED):
            out = obj.decompress(view[start:start + _ZSTD_FEED].tobytes())
            if out:
                yield out

    def flush() -> Iterator[bytes]:
        return iter(())

    return feed, flush


def _identity_decoder() -> tuple[Decoder, Callable[[], Iterator[bytes]]]:
    def feed(data: bytes) -> Iterator[bytes]:
        if data:
            yield data

    def flush() -> Iterator[bytes]:
        return iter(())

    return feed, flush


_DECODERS: dict[str, Callable[[], tuple[Decoder, Callable[[], Iterator[bytes]]]]] = {
    "gzip": lambda: _zlib_decoder(gzip=True),
    "x-gzip": lambda: _zlib_decoder(gzip=True),
    "deflate": lambda: _zlib_decoder(gzip=False),
    "br": _brotli_decoder,
    "zstd": _zstd_decoder,
    "identity": _identity_decoder,
}


def decoded_chunks(raw_chunks: Iterable[bytes], content_encoding: str | None) -> Iterator[bytes]:
    """Lazily undo a Content-Encoding (a list is applied in reverse order), chunk by chunk.

    Each yielded chunk is bounded (~64 KiB, ~1 MiB for zstd) whatever the compression ratio, so a
    caller that stops consuming at its byte limit never inflates a bomb.
    """
    codings = [c.strip().lower() for c in (content_encoding or "").split(",") if c.strip()]
    stages = []
    for coding in reversed(codings):
        if coding not in _DECODERS:
            raise UnsupportedEncoding(f"unsupported Content-Encoding {coding!r}")
        stages.append(_DECODERS[coding]())

    def through(chunks: Iterable[bytes], index: int) -> Iterator[bytes]:
        if index == len(stages):
            yield from chunks
            return
        feed, flush = stages[index]

        def fed() -> Iterator[bytes]:
            for chunk in chunks:
                yield from feed(chunk)
            yield from flush()

        yield from through(fed(), index + 1)

    return through(raw_chunks, 0)


def read_limited(chunks: Iterable[bytes], max_bytes: int,
                 deadline: float | None = None, clock: Callable[[], float] = time.monotonic) -> bytes:
    """Join chunks; BodyTooLarge past ``max_bytes``, TotalTimeout past ``deadline``."""
    parts: list[bytes] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > max_bytes:
            raise BodyTooLarge(f"body exceeds {max_bytes} bytes")
        if deadline is not None and clock() > deadline:
            raise TotalTimeout("total timeout exceeded while reading the body")
        parts.append(chunk)
    return b"".join(parts)


