"""Response compression: gzip, or brotli when it is installed and the client prefers it."""

from __future__ import annotations

import functools
import importlib
import re
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import ClassVar

from werkzeug.datastructures import Accept, Headers
from werkzeug.http import parse_dict_header
from werkzeug.wrappers import Response
from werkzeug.wsgi import ClosingIterator

from ..exceptions import ImproperlyConfigured
from ..wrappers import Request
from ._http import add_vary, header_names
from .base import BaseMiddleware

#: What ``content_types`` defaults to: text formats that shrink well. Images,
#: audio, video, fonts in WOFF and archives are compressed already; compressing
#: them again costs CPU and saves nothing.
DEFAULT_CONTENT_TYPES: tuple[str, ...] = (
    "text/*",
    "application/json",
    "application/*+json",
    "application/javascript",
    "application/ecmascript",
    "application/xml",
    "application/*+xml",
    "application/x-ndjson",
    "application/yaml",
    "application/wasm",
    "image/svg+xml",
    "image/x-icon",
    "image/vnd.microsoft.icon",
    "font/ttf",
    "font/otf",
)

#: Server-sent events are never compressed, whatever ``content_types`` says: an
#: event must reach the browser the moment it is written, and proxies and
#: EventSource clients that buffer a compressed stream hold events back.
EVENT_STREAM = "text/event-stream"

# "type/subtype", "type/*" or "type/*+suffix", in RFC 6838's token characters.
_TOKEN = r"[a-z0-9!#$&^_.+-]+"  # noqa: S105 - an HTTP token's grammar
_PATTERN = re.compile(rf"(?P<type>{_TOKEN})/(?P<subtype>\*|\*\+{_TOKEN}|{_TOKEN})")

# A body that is encoded already, or a byte range of the identity body (compressing
# a range would break the client's reassembly of the ranges).
_SKIP_IF_PRESENT = frozenset({"content-encoding", "content-range"})

# 204 has no body, 206 a byte range; 1xx are checked by range.
_SKIPPED_STATUSES = frozenset({204, 206})

_GZIP_WBITS = 16 + zlib.MAX_WBITS  # zlib writes a gzip header and trailer


class _Codec:
    """One content coding: how to compress a whole body, and how to stream one."""

    __slots__ = ("compress", "name", "start")

    def __init__(
        self,
        name: str,
        compress: Callable[[bytes], bytes],
        start: Callable[[], tuple[Callable[[bytes], bytes], Callable[[], bytes]]],
    ) -> None:
        self.name = name
        self.compress = compress
        #: Returns a fresh ``(step, finish)`` pair: ``step`` compresses and flushes one chunk.
        self.start = start

    def stream(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        """Compress chunk by chunk, flushing each, so a streamed body keeps streaming
        and is never held in memory whole."""
        step, finish = self.start()
        for chunk in chunks:
            if chunk:  # an empty chunk would only emit a flush marker
                yield step(chunk)
        yield finish()


def _gzip_codec(level: int) -> _Codec:
    def start() -> tuple[Callable[[bytes], bytes], Callable[[], bytes]]:
        compressor = zlib.compressobj(level, zlib.DEFLATED, _GZIP_WBITS)
        # Z_SYNC_FLUSH ends each chunk on a byte boundary the client can inflate now.
        return (
            lambda chunk: compressor.compress(chunk) + compressor.flush(zlib.Z_SYNC_FLUSH)
        ), compressor.flush

    # zlib's gzip header carries mtime 0, so equal bodies compress to equal bytes.
    return _Codec("gzip", functools.partial(zlib.compress, level=level, wbits=_GZIP_WBITS), start)


def _brotli_codec(quality: int) -> _Codec | None:
    try:
        brotli = importlib.import_module("brotli")
    except ImportError:
        return None

    def start() -> tuple[Callable[[bytes], bytes], Callable[[], bytes]]:
        compressor = brotli.Compressor(quality=quality)
        return (lambda chunk: compressor.process(chunk) + compressor.flush()), compressor.finish

    return _Codec("br", functools.partial(brotli.compress, quality=quality), start)


def _check_int(owner: str, name: str, value: int, low: int, high: int | None, meaning: str) -> None:
    in_range = isinstance(value, int) and value >= low and (high is None or value <= high)
    if in_range and not isinstance(value, bool):
        return
    limits = f"from {low} to {high}" if high is not None else f"of at least {low}"
    raise ImproperlyConfigured(
        f"{owner}: {name} must be an integer {limits} ({meaning}), got {value!r}."
    )


class CompressionMiddleware(BaseMiddleware):
    """Compress responses with the best coding the client accepts (brotli, then gzip).

    :param minimum_size: bodies of known length below this many bytes go out as
        they are; the gzip framing alone is about 20 bytes.
    :param compresslevel: gzip level, 1 (fastest) to 9 (smallest).
    :param brotli_quality: brotli quality, 0 (fastest) to 11 (smallest).
    :param content_types: the media types to compress: ``type/subtype``,
        ``type/*`` or ``type/*+suffix`` (see :data:`DEFAULT_CONTENT_TYPES`).
    :param brotli: offer brotli when the ``brotli`` package is installed.
    """

    ordering_role: ClassVar[str] = "gzip"

    def __init__(
        self,
        *,
        minimum_size: int = 500,
        compresslevel: int = 6,
        brotli_quality: int = 4,
        content_types: Sequence[str] = DEFAULT_CONTENT_TYPES,
        brotli: bool = True,
    ) -> None:
        owner = type(self).__name__
        _check_int(owner, "minimum_size", minimum_size, 0, None, "a body length in bytes")
        _check_int(
            owner, "compresslevel", compresslevel, 1, 9, "1 is fastest, 9 smallest; 6 is usual"
        )
        _check_int(
            owner, "brotli_quality", brotli_quality, 0, 11, "0 is fastest, 11 smallest; 4 is usual"
        )
        self.minimum_size = minimum_size
        self._exact, self._any_subtype, self._suffixes = _parse_content_types(owner, content_types)
        gzip = _gzip_codec(compresslevel)
        brotli_codec = _brotli_codec(brotli_quality) if brotli else None
        # Brotli first: on equal q-values the earlier coding wins (see _negotiate).
        self._codecs = (gzip,) if brotli_codec is None else (brotli_codec, gzip)

    def process_response(self, request: Request, response: Response) -> Response:
        """Compress the body if it is worth it and the client accepts a coding we have."""
        if self._never_compressed(response):
            return response
        status = response.status_code
        streamed = response.is_streamed
        headers = response.headers
        names = header_names(headers)
        if not names.isdisjoint(_SKIP_IF_PRESENT):
            return response
        if "cache-control" in names and _no_transform(headers):
            return response

        # From here the outcome depends on Accept-Encoding, so caches must key on it.
        add_vary(response.headers, "Accept-Encoding")
        codec = self._negotiate(request.accept_encodings)
        if codec is None:
            return response
        if status != 304:  # a 304 has no body, only the 200's validators (RFC 9110 15.4.5)
            if streamed:
                original = response.response
                # ClosingIterator closes ``original`` as well as the codec's generator,
                # even for direct_passthrough responses werkzeug hands to the server as-is.
                response.response = ClosingIterator(
                    codec.stream(response.iter_encoded()), getattr(original, "close", None)
                )
                del headers["Content-Length"]
            else:
                body = response.get_data()
                compressed = codec.compress(body)
                if len(compressed) >= len(body):
                    return response
                response.set_data(compressed)  # sets Content-Length
            headers["Content-Encoding"] = codec.name
            # Byte ranges would address the compressed bytes, which differ per
            # coding and level; a stale digest of the identity body would fail.
            del headers["Accept-Ranges"]
            del headers["Content-MD5"]
        if "etag" in names:  # a strong ETag promises byte-identical bodies
            etag, weak = response.get_etag()
            if etag is not None and not weak:
                response.set_etag(etag, weak=True)
        return response

    def _never_compressed(self, response: Response) -> bool:
        """Whether ``response`` goes out as it is to every client: its status, its type
        or its size rules compression out. None of this depends on the request, so
        such a response gets no ``Vary: Accept-Encoding``; the cheapest checks first.
        """
        status = response.status_code
        if status < 200 or status in _SKIPPED_STATUSES:
            return True
        chunks = response.response
        if (
            type(chunks) is list
            and len(chunks) == 1
            and type(chunks[0]) is bytes
            and 0 < len(chunks[0]) < self.minimum_size
        ):
            # PERF: the usual small answer held in memory, known small before the
            # mimetype is parsed and the length summed through werkzeug: ~1.5 us.
            return True
        if not self._compressible(response.mimetype):
            return True
        streamed = response.is_streamed
        length = response.content_length if streamed else response.calculate_content_length()
        # A 304 may come without the body its 200 had; length 0 then means unknown.
        return length is not None and length < self.minimum_size and (length > 0 or status != 304)

    def _compressible(self, mimetype: str | None) -> bool:
        if not mimetype:
            return False
        mimetype = mimetype.lower()
        if mimetype in self._exact:
            return True
        if mimetype == EVENT_STREAM:
            return False
        main, _, subtype = mimetype.partition("/")
        if main in self._any_subtype:
            return True
        _, plus, suffix = subtype.rpartition("+")
        return bool(plus) and (main, suffix) in self._suffixes

    def _negotiate(self, accept: Accept) -> _Codec | None:
        """The coding with the highest q-value above 0, or None.

        ``Accept.quality`` prefers an explicit ``gzip;q=0`` over ``*``, and
        returns 0 when neither is listed (or no header was sent at all: RFC 9110
        would allow any coding then, but old clients omit it because they cannot
        decode one, so like Django and nginx we send identity).
        """
        best, best_quality = None, 0.0
        for codec in self._codecs:
            quality = accept.quality(codec.name)
            if quality > best_quality:
                best, best_quality = codec, quality
        return best


def _no_transform(headers: Headers) -> bool:
    """Whether a ``Cache-Control`` line says ``no-transform``.

    Not ``response.cache_control.no_transform``: that reads only the first
    ``Cache-Control`` line and matches directive names case-sensitively, while
    RFC 9111 (5.2) makes them case-insensitive and a list header may be split.
    """
    directives = parse_dict_header(", ".join(headers.getlist("Cache-Control")))
    return any(name.lower() == "no-transform" for name in directives)


def _parse_content_types(
    owner: str, patterns: Sequence[str]
) -> tuple[frozenset[str], frozenset[str], frozenset[tuple[str, str]]]:
    """Split the patterns into exact types, ``type/*`` types and ``(type, suffix)`` pairs."""
    if isinstance(patterns, str) or not patterns:
        raise ImproperlyConfigured(
            f"{owner}: content_types must be a non-empty list of media types, got "
            f"{patterns!r}. Write e.g. ['text/*', 'application/json'], or leave it out for "
            "the default list."
        )
    exact: set[str] = set()
    any_subtype: set[str] = set()
    suffixes: set[tuple[str, str]] = set()
    for index, pattern in enumerate(patterns):
        match = _PATTERN.fullmatch(pattern.strip().lower()) if isinstance(pattern, str) else None
        if match is None:
            raise ImproperlyConfigured(
                f"{owner}: content_types[{index}] {pattern!r} is not a media type "
                "pattern. Write 'type/subtype' (application/json), 'type/*' (text/*) or "
                "'type/*+suffix' (application/*+json); '*/*' is not allowed, since images "
                "and archives are compressed already."
            )
        main, subtype = match["type"], match["subtype"]
        if f"{main}/{subtype}" == EVENT_STREAM:
            raise ImproperlyConfigured(
                f"{owner}: content_types[{index}] {pattern!r}: server-sent "
                "events are never compressed (a compressing proxy or client would hold "
                "events back); remove it from content_types."
            )
        if subtype == "*":
            any_subtype.add(main)
        elif subtype.startswith("*+"):
            suffixes.add((main, subtype[2:]))
        else:
            exact.add(f"{main}/{subtype}")
    return frozenset(exact), frozenset(any_subtype), frozenset(suffixes)


#: The name this middleware had before it also spoke brotli; kept working.
GZipMiddleware = CompressionMiddleware
