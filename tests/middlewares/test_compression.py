"""GZipMiddleware: negotiation, skip rules, headers, and streaming without buffering."""

from __future__ import annotations

import gzip
import sys
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import brotli
import pytest
from werkzeug.wrappers import Response as WerkzeugResponse

from lback_mw import App, ImproperlyConfigured, Request, Response
from lback_mw.checks import check_ordering
from lback_mw.middlewares.compression import (
    DEFAULT_CONTENT_TYPES,
    CompressionMiddleware,
    GZipMiddleware,
)
from lback_mw.testing import Client

GZIP = "lback_mw.middlewares.GZipMiddleware"
BODY = "The quick brown fox jumps over the lazy dog. " * 40  # 1800 bytes, compressible

AppFactory = Callable[..., App]
ClientFor = Callable[[App], Client]


def build(app_factory: AppFactory, **params: Any) -> App:
    return app_factory(MIDDLEWARES=[{"class": GZIP, "params": params}])


def decode(response: WerkzeugResponse) -> bytes:
    """The body as the client would see it after undoing Content-Encoding."""
    coding = response.headers.get("Content-Encoding")
    data = response.get_data()
    if coding == "gzip":
        return gzip.decompress(data)
    if coding == "br":
        return bytes(brotli.decompress(data))
    assert coding is None, coding
    return data


def vary(response: WerkzeugResponse) -> list[str]:
    return [value.lower() for value in response.vary]


@pytest.fixture
def app(app_factory: AppFactory) -> App:
    app = build(app_factory)

    @app.route("/")
    def index(request: Request) -> str:
        return BODY

    return app


# -- compression and negotiation -----------------------------------------------------


def test_gzip_body_decompresses_to_the_original(app: App, client_for: ClientFor) -> None:
    response = client_for(app).get("/", headers={"Accept-Encoding": "gzip"})

    assert response.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(response.data) == BODY.encode()
    assert response.headers["Content-Length"] == str(len(response.data)) != str(len(BODY))
    assert len(response.data) < len(BODY) // 10
    assert vary(response) == ["accept-encoding"]
    assert response.mimetype == "text/html"
    # mtime 0 in the gzip header: equal bodies give equal bytes, which caches like.
    assert client_for(app).get("/", headers={"Accept-Encoding": "gzip"}).data == response.data


def test_brotli_wins_a_tie_and_decompresses(app: App, client_for: ClientFor) -> None:
    response = client_for(app).get("/", headers={"Accept-Encoding": "gzip, deflate, br"})

    assert response.headers["Content-Encoding"] == "br"
    assert brotli.decompress(response.data) == BODY.encode()
    assert response.headers["Content-Length"] == str(len(response.data))


@pytest.mark.parametrize(
    ("accept_encoding", "coding"),
    [
        pytest.param("gzip;q=0", None, id="gzip-q0"),
        pytest.param("gzip;q=0, br;q=0", None, id="both-q0"),
        pytest.param("gzip;q=0, *", "br", id="star-but-not-gzip"),
        pytest.param("br;q=0, *", "gzip", id="star-but-not-br"),
        pytest.param("gzip;q=0, br;q=0, *", None, id="star-but-neither"),
        pytest.param("*", "br", id="star"),
        pytest.param("*;q=0", None, id="star-q0"),
        pytest.param("*;q=0.1, gzip", "gzip", id="explicit-beats-star"),
        pytest.param("br;q=0.5, gzip;q=0.8", "gzip", id="higher-q-wins"),
        pytest.param("br;q=0.8, gzip;q=0.8", "br", id="tie-prefers-br"),
        pytest.param("identity", None, id="identity"),
        pytest.param("identity;q=0, gzip", "gzip", id="identity-q0-irrelevant"),
        pytest.param("deflate, compress", None, id="unsupported-only"),
        pytest.param("GZip", "gzip", id="case-insensitive"),
        pytest.param("gzip;q=nonsense", None, id="malformed-q"),
        pytest.param("", None, id="empty-header"),
        pytest.param(None, None, id="no-header"),
    ],
)
def test_accept_encoding_q_values(
    app: App, client_for: ClientFor, accept_encoding: str | None, coding: str | None
) -> None:
    headers = {} if accept_encoding is None else {"Accept-Encoding": accept_encoding}
    response = client_for(app).get("/", headers=headers)

    assert response.headers.get("Content-Encoding") == coding
    assert decode(response) == BODY.encode()
    # Compressible and big enough: the answer depended on Accept-Encoding either way.
    assert vary(response) == ["accept-encoding"]


def test_brotli_off_uses_gzip(app_factory: AppFactory, client_for: ClientFor) -> None:
    app = build(app_factory, brotli=False)
    app.route("/")(lambda request: BODY)
    client = client_for(app)

    response = client.get("/", headers={"Accept-Encoding": "br, gzip"})
    assert response.headers["Content-Encoding"] == "gzip"
    response = client.get("/", headers={"Accept-Encoding": "br"})
    assert "Content-Encoding" not in response.headers
    assert response.data == BODY.encode()


def test_without_brotli_installed_falls_back_to_gzip(
    app_factory: AppFactory, client_for: ClientFor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "brotli", None)  # makes "import brotli" fail
    with pytest.raises(ImportError):
        import brotli as _  # noqa: F401
    app = build(app_factory)  # brotli=True by default: no error, just no br
    app.route("/")(lambda request: BODY)
    client = client_for(app)

    response = client.get("/", headers={"Accept-Encoding": "br, gzip"})
    assert response.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(response.data) == BODY.encode()
    response = client.get("/", headers={"Accept-Encoding": "br"})
    assert "Content-Encoding" not in response.headers
    assert vary(response) == ["accept-encoding"]


def test_levels_are_used(app_factory: AppFactory, client_for: ClientFor) -> None:
    body = "".join(f"{i:08x} {i * 7919 % 104729}\n" for i in range(3000))
    sizes = {}
    for level in (1, 9):
        app = build(app_factory, compresslevel=level, brotli_quality=level)
        app.route("/")(lambda request: body)
        client = client_for(app)
        sizes[level] = [
            len(client.get("/", headers={"Accept-Encoding": coding}).data)
            for coding in ("gzip", "br")
        ]
    assert sizes[9][0] < sizes[1][0]
    assert sizes[9][1] < sizes[1][1]


# -- what is left alone --------------------------------------------------------------


def _already_encoded(request: Request) -> Response:
    return Response(gzip.compress(BODY.encode()), headers={"Content-Encoding": "gzip"})


def _identity_encoding(request: Request) -> Response:
    return Response(BODY, headers={"Content-Encoding": "identity"})


def _no_transform(request: Request) -> Response:
    return Response(BODY, headers={"Cache-Control": "public, no-transform"})


def _no_content(request: Request) -> Response:
    return Response(BODY, status=204)  # the body is dropped, but only on the way out


def _partial(request: Request) -> WerkzeugResponse:
    response = Response(BODY)
    return response.make_conditional(request, accept_ranges=True, complete_length=len(BODY))


def _range_not_satisfiable(request: Request) -> Response:
    return Response(BODY, status=416, headers={"Content-Range": f"bytes */{len(BODY)}"})


def _event_stream(request: Request) -> Response:
    return Response(BODY, mimetype="text/event-stream")


def _no_transform_any_case(request: Request) -> Response:
    return Response(BODY, headers={"Cache-Control": "max-age=60, No-Transform"})


def _no_transform_second_line(request: Request) -> Response:
    return Response(BODY, headers=[("Cache-Control", "public"), ("Cache-Control", "no-transform")])


def _png(request: Request) -> Response:
    return Response(BODY, mimetype="image/png")


def _no_content_type(request: Request) -> Response:
    response = Response(BODY)
    del response.headers["Content-Type"]
    return response


def _small(request: Request) -> Response:
    return Response("x" * 499)


def _small_stream(request: Request) -> Response:
    return Response(iter([b"x" * 200, b"y" * 200]), headers={"Content-Length": "400"})


@pytest.mark.parametrize(
    "view",
    [
        _already_encoded,
        _identity_encoding,
        _no_transform,
        _no_transform_any_case,
        _no_transform_second_line,
        _no_content,
        _partial,
        _range_not_satisfiable,
        _event_stream,
        _png,
        _no_content_type,
        _small,
        _small_stream,
    ],
)
def test_skipped_for_every_client_without_vary(
    app_factory: AppFactory, client_for: ClientFor, view: Callable[[Request], WerkzeugResponse]
) -> None:
    app, plain = build(app_factory), app_factory()  # the same view with and without gzip
    for each in (app, plain):
        each.route("/")(view)
    headers = {"Accept-Encoding": "gzip, br", "Range": "bytes=0-999"}
    # werkzeug's linter wants "Content-Length: 0" on a 204, a header werkzeug
    # itself removes (RFC 9110 forbids it there), so 204 goes unlinted.
    lint = view is not _no_content

    response = Client(app, lint=lint).get("/", headers=headers)
    expected = Client(plain, lint=lint).get("/", headers=headers)

    response.headers.remove("Date")  # 206 gets one from make_conditional
    expected.headers.remove("Date")
    assert response.status_code == expected.status_code
    assert response.data == expected.data
    assert response.headers == expected.headers
    assert "Vary" not in response.headers


def test_partial_content_is_the_identity_range(app_factory: AppFactory, client_for: ClientFor):
    app = build(app_factory)
    app.route("/")(_partial)

    response = client_for(app).get("/", headers={"Accept-Encoding": "gzip", "Range": "bytes=0-999"})

    assert response.status_code == 206
    assert response.data == BODY.encode()[:1000]
    assert response.headers["Content-Range"] == f"bytes 0-999/{len(BODY)}"
    assert response.headers["Accept-Ranges"] == "bytes"


@pytest.mark.parametrize("size", [499, 500])
def test_minimum_size_boundary(app_factory: AppFactory, client_for: ClientFor, size: int) -> None:
    app = build(app_factory, minimum_size=500)
    app.route("/")(lambda request: "a" * size)

    response = client_for(app).get("/", headers={"Accept-Encoding": "gzip"})

    assert ("Content-Encoding" in response.headers) == (size >= 500)
    assert decode(response) == b"a" * size


def test_body_that_would_grow_goes_out_as_is_with_vary(
    app_factory: AppFactory, client_for: ClientFor
) -> None:
    app = build(app_factory, minimum_size=0)
    app.route("/")(lambda request: "x")

    response = client_for(app).get("/", headers={"Accept-Encoding": "gzip, br"})

    assert "Content-Encoding" not in response.headers
    assert response.data == b"x"
    assert response.headers["Content-Length"] == "1"
    assert vary(response) == ["accept-encoding"]


def test_content_types(app_factory: AppFactory, client_for: ClientFor) -> None:
    app = build(app_factory, content_types=["application/*+json", "TEXT/CSV"])
    for path, mimetype in [
        ("/api", "application/vnd.api+json"),
        ("/csv", "text/csv"),
        ("/upper", "Text/CSV"),
        ("/json", "application/json"),
        ("/html", "text/html"),
        ("/image-json", "image/x+json"),
    ]:
        app.route(path, endpoint=path)(
            lambda request, mimetype=mimetype: Response(BODY, mimetype=mimetype)
        )
    client = client_for(app)

    def coding(path: str) -> str | None:
        return client.get(path, headers={"Accept-Encoding": "gzip"}).headers.get("Content-Encoding")

    assert [coding(path) for path in ("/api", "/csv", "/upper")] == ["gzip"] * 3
    assert [coding(path) for path in ("/json", "/html", "/image-json")] == [None] * 3


@pytest.mark.parametrize(
    ("mimetype", "compressed"),
    [
        ("text/html", True),
        ("text/css", True),
        ("text/javascript", True),
        ("application/json", True),
        ("application/problem+json", True),
        ("application/ld+json", True),
        ("application/javascript", True),
        ("application/xml", True),
        ("application/atom+xml", True),
        ("image/svg+xml", True),
        ("text/event-stream", False),
        ("image/png", False),
        ("image/jpeg", False),
        ("application/octet-stream", False),
        ("application/zip", False),
        ("font/woff2", False),
    ],
)
def test_default_content_types(mimetype: str, compressed: bool) -> None:
    assert GZipMiddleware()._compressible(mimetype) is compressed
    assert "text/*" in DEFAULT_CONTENT_TYPES


# -- headers -------------------------------------------------------------------------


def test_vary_is_merged_not_replaced(app_factory: AppFactory, client_for: ClientFor) -> None:
    app = build(app_factory)
    app.route("/cookie", endpoint="cookie")(lambda request: (BODY, 200, {"Vary": "Cookie"}))
    app.route("/already", endpoint="already")(
        lambda request: (BODY, 200, {"Vary": "accept-encoding, Origin"})
    )
    client = client_for(app)

    for accept_encoding in ("gzip", "identity"):
        headers = {"Accept-Encoding": accept_encoding}
        assert client.get("/cookie", headers=headers).headers["Vary"] == "Cookie, Accept-Encoding"
        assert client.get("/already", headers=headers).headers.getlist("Vary") == [
            "accept-encoding, Origin"
        ]


@pytest.mark.parametrize(
    ("etag", "accept_encoding", "sent"),
    [
        pytest.param('"v1"', "gzip", 'W/"v1"', id="strong-weakened"),
        pytest.param('W/"v1"', "gzip", 'W/"v1"', id="weak-kept"),
        pytest.param('"v1"', "identity", '"v1"', id="uncompressed-stays-strong"),
    ],
)
def test_etag(
    app_factory: AppFactory, client_for: ClientFor, etag: str, accept_encoding: str, sent: str
) -> None:
    app = build(app_factory)
    app.route("/")(lambda request: (BODY, 200, {"ETag": etag}))

    response = client_for(app).get("/", headers={"Accept-Encoding": accept_encoding})

    assert response.headers["ETag"] == sent


def test_range_and_digest_headers_dropped_when_compressed(
    app_factory: AppFactory, client_for: ClientFor
) -> None:
    app = build(app_factory)
    headers = {"Accept-Ranges": "bytes", "Content-MD5": "bm90IHRoZSByZWFsIGRpZ2VzdA=="}
    app.route("/")(lambda request: (BODY, 200, headers))
    client = client_for(app)

    compressed = client.get("/", headers={"Accept-Encoding": "gzip"})
    assert "Accept-Ranges" not in compressed.headers
    assert "Content-MD5" not in compressed.headers
    identity = client.get("/", headers={"Accept-Encoding": "identity"})
    assert identity.headers["Accept-Ranges"] == "bytes"
    assert identity.headers["Content-MD5"] == headers["Content-MD5"]


def test_not_modified_carries_the_validators_of_the_compressed_200(
    app_factory: AppFactory, client_for: ClientFor
) -> None:
    app = build(app_factory)

    @app.route("/")
    def page(request: Request) -> WerkzeugResponse:
        response = Response(BODY)
        response.set_etag("v1")
        return response.make_conditional(request)

    client = client_for(app)
    first = client.get("/", headers={"Accept-Encoding": "gzip"})
    assert first.headers["ETag"] == 'W/"v1"'

    again = client.get(
        "/", headers={"Accept-Encoding": "gzip", "If-None-Match": first.headers["ETag"]}
    )

    assert again.status_code == 304
    assert again.data == b""
    assert "Content-Encoding" not in again.headers
    # RFC 9110 15.4.5: the ETag and Vary the 200 would have carried.
    assert again.headers["ETag"] == 'W/"v1"'
    assert vary(again) == ["accept-encoding"]


def test_bodiless_not_modified_is_treated_as_compressible(
    app_factory: AppFactory, client_for: ClientFor
) -> None:
    # A hand-made 304 has no body to measure: its 200 may well have been compressed.
    app = build(app_factory)
    app.route("/")(lambda request: Response(status=304, headers={"ETag": '"v1"'}))

    response = client_for(app).get("/", headers={"Accept-Encoding": "br"})

    assert response.status_code == 304
    assert response.headers["ETag"] == 'W/"v1"'
    assert vary(response) == ["accept-encoding"]


def test_head_gets_the_headers_get_would(app_factory: AppFactory) -> None:
    app = build(app_factory)
    app.route("/")(lambda request: (BODY, 200, {"ETag": '"v1"'}))
    # werkzeug's linter counts a HEAD response's Content-Length against the (empty)
    # body it sends, so HEAD goes through a plain client (as in test_routing.py).
    client = Client(app)
    headers = {"Accept-Encoding": "gzip"}

    get, head = client.get("/", headers=headers), client.head("/", headers=headers)

    assert head.data == b""
    for name in ("Content-Encoding", "Content-Length", "ETag", "Vary"):
        assert head.headers[name] == get.headers[name], name


# -- streaming -----------------------------------------------------------------------


class Source:
    """A streamed body that records how far it was pulled and whether it was closed."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.pulled = 0
        self.closed = 0
        self.finished = False

    def __iter__(self) -> Iterator[bytes]:
        try:
            for chunk in self.chunks:
                self.pulled += 1
                yield chunk
            self.finished = True
        finally:
            self.closed += 1


def decoder(coding: str) -> Callable[[bytes], bytes]:
    """Incremental decoding, as a browser does while the body arrives."""
    if coding == "gzip":
        return zlib.decompressobj(31).decompress
    return brotli.Decompressor().process  # type: ignore[no-any-return]


def stream_app(app_factory: AppFactory, source: Source, mimetype: str = "text/plain") -> App:
    app = build(app_factory)
    app.route("/")(lambda request: Response(iter(source), mimetype=mimetype))
    return app


@pytest.mark.parametrize("coding", ["gzip", "br"])
def test_stream_compresses_each_chunk_as_it_comes(
    app_factory: AppFactory, client_for: ClientFor, coding: str
) -> None:
    source = Source([f"event {i}\n".encode() * 3 for i in range(5)])
    app = stream_app(app_factory, source)

    response = client_for(app).get("/", headers={"Accept-Encoding": coding}, buffered=False)
    assert response.headers["Content-Encoding"] == coding
    assert "Content-Length" not in response.headers
    decode = decoder(coding)
    received = []
    for index, chunk in enumerate(response.iter_encoded(), start=1):
        if index <= len(source.chunks):
            # Each chunk decodes on arrival, before the source is pulled further.
            assert source.pulled == index
            assert decode(chunk) == source.chunks[index - 1]
        else:
            received.append(decode(chunk))  # the trailer
    response.close()

    assert b"".join(received) == b""
    assert source.finished
    assert source.closed == 1


def test_large_stream_is_never_materialised(app_factory: AppFactory, client_for: ClientFor):
    chunk = b"".join(b"%08d lorem ipsum dolor sit amet\n" % i for i in range(8192))  # 320 KiB
    count = 48  # 15 MiB in all
    pulled = []

    def body() -> Iterator[bytes]:
        for index in range(count):
            pulled.append(index)
            yield chunk

    app = build(app_factory)
    app.route("/")(lambda request: Response(body(), mimetype="text/plain"))

    response = client_for(app).get("/", headers={"Accept-Encoding": "gzip"}, buffered=False)
    decode = decoder("gzip")
    total = 0
    for number, compressed in enumerate(response.iter_encoded(), start=1):
        assert len(pulled) == min(number, count)  # one chunk in, one chunk out
        total += len(decode(compressed))
    response.close()

    assert total == count * len(chunk)


def test_stream_closed_early_closes_the_source(app_factory: AppFactory, client_for: ClientFor):
    source = Source([b"x" * 1000] * 10)
    app = stream_app(app_factory, source)

    response = client_for(app).get("/", headers={"Accept-Encoding": "gzip"}, buffered=False)
    next(response.iter_encoded())
    response.close()  # the client went away

    assert source.pulled == 1
    assert not source.finished
    assert source.closed == 1


class ClosableBody:
    """An iterable that is not a generator: only an explicit close() releases it."""

    def __init__(self) -> None:
        self.closed = 0

    def __iter__(self) -> Iterator[bytes]:
        return iter([b"a" * 1000, b"b" * 1000])

    def close(self) -> None:
        self.closed += 1


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_original_iterable_is_closed(app_factory: AppFactory, method: str) -> None:
    body = ClosableBody()
    app = build(app_factory)
    app.route("/", methods=["GET"])(lambda request: Response(body, mimetype="text/plain"))

    response = Client(app, lint=method == "GET").open(
        "/", method=method, headers={"Accept-Encoding": "gzip"}
    )

    assert response.headers["Content-Encoding"] == "gzip"
    assert body.closed == 1
    if method == "GET":
        assert gzip.decompress(response.data) == b"a" * 1000 + b"b" * 1000


def test_streamed_with_known_length_drops_content_length(
    app_factory: AppFactory, client_for: ClientFor
) -> None:
    app = build(app_factory)
    app.route("/")(
        lambda request: Response(iter([BODY.encode()]), headers={"Content-Length": "1800"})
    )

    response = client_for(app).get("/", headers={"Accept-Encoding": "gzip"})

    assert "Content-Length" not in response.headers
    assert gzip.decompress(response.data) == BODY.encode()


def test_event_stream_chunks_stay_separate_and_raw(app_factory: AppFactory, client_for: ClientFor):
    source = Source([b"data: %d\n\n" % i * 100 for i in range(3)])
    app = stream_app(app_factory, source, mimetype="text/event-stream")

    response = client_for(app).get("/", headers={"Accept-Encoding": "gzip, br"}, buffered=False)
    chunks = response.iter_encoded()
    first = next(chunks)

    assert first == source.chunks[0]
    assert source.pulled == 1
    assert "Content-Encoding" not in response.headers
    assert "Vary" not in response.headers
    assert list(chunks) == source.chunks[1:]
    response.close()


# -- configuration -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"compresslevel": 0}, "compresslevel must be an integer from 1 to 9"),
        ({"compresslevel": 10}, "compresslevel must be an integer from 1 to 9 (1 is fastest"),
        ({"brotli_quality": 12}, "brotli_quality must be an integer from 0 to 11"),
        ({"brotli_quality": -1}, "brotli_quality must be an integer from 0 to 11"),
        ({"minimum_size": -1}, "minimum_size must be an integer of at least 0"),
        ({"compresslevel": "lots"}, "parameter 'compresslevel' expects int"),
        ({"content_types": []}, "content_types must be a non-empty list"),
        ({"content_types": "text/*"}, "'str' instances are not allowed"),
        ({"content_types": ["text/html", "json"]}, "content_types[1] 'json' is not a media type"),
        ({"content_types": ["*/*"]}, "'*/*' is not allowed"),
        ({"content_types": ["text/*+"]}, "content_types[0] 'text/*+' is not a media type"),
        ({"content_types": ["Text/Event-Stream"]}, "server-sent events are never compressed"),
        ({"level": 6}, "level"),
    ],
)
def test_configuration_errors(
    app_factory: AppFactory, params: dict[str, Any], message: str
) -> None:
    with pytest.raises(ImproperlyConfigured) as caught:
        build(app_factory, **params)

    text = str(caught.value)
    assert text.startswith(f"MIDDLEWARES[0] ('{GZIP}')")
    assert message in text


def test_direct_construction_validates_too() -> None:
    with pytest.raises(
        ImproperlyConfigured, match=r"^CompressionMiddleware: content_types must be"
    ):
        GZipMiddleware(content_types="text/html")
    with pytest.raises(ImproperlyConfigured, match=r"compresslevel .* got True"):
        GZipMiddleware(compresslevel=True)
    assert GZipMiddleware.ordering_role == "gzip"


def test_params_from_yaml_style_strings(app_factory: AppFactory, client_for: ClientFor) -> None:
    app = build(app_factory, minimum_size="100", compresslevel="9", brotli="false")
    app.route("/")(lambda request: "z" * 100)

    response = client_for(app).get("/", headers={"Accept-Encoding": "br, gzip"})

    assert response.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(response.data) == b"z" * 100


@pytest.mark.parametrize("name", ["CompressionMiddleware", "GZipMiddleware"])
def test_both_names_build_the_same_middleware_and_pass_the_ordering_check(
    app_factory: AppFactory, name: str
) -> None:
    app = app_factory(
        MIDDLEWARES=[
            "lback_mw.middlewares.SecurityHeadersMiddleware",
            f"lback_mw.middlewares.{name}",
        ]
    )
    [_, layer] = app.configured_middleware
    assert type(layer.instance) is CompressionMiddleware
    assert check_ordering(app) == []
    # Inside out, both names get the same warning, by role.
    wrong = app_factory(
        MIDDLEWARES=[
            f"lback_mw.middlewares.{name}",
            "lback_mw.middlewares.SecurityHeadersMiddleware",
        ]
    )
    [warning] = check_ordering(wrong)
    assert "security headers" in warning.message
