# SPDX-License-Identifier: MIT
# tests/proxy/test_body_framing.py: message framing the engine must refuse rather than
# forward, on both sides (requests toward the upstream, responses toward the guest) and
# on every plain-text path: forward proxy, transparent, inside a CONNECT tunnel,
# intercepted TLS (where the real credential is injected). A refused body resets the
# connection; the bytes past the last valid one never reach the other side.
import socket
import ssl

import pytest

from conftest import recv_response
from rawup import RawUpstream, read_all
from test_intercept import HOST, STORED, pki, secret_set, sbx_ctx, start as start_icpt  # noqa: F401
from test_forward import connect as connect_raw

# (valid prefix, bytes that must never be forwarded) of a chunked body
CHUNKED = {
    # http-parser (non-strict) takes any two bytes for the CRLF after chunk data
    "two_bytes_after_data": (b"5\r\nhello", b"XY0\r\n\r\n"),
    "cr_and_junk_after_data": (b"5\r\nhello", b"\rX0\r\n\r\n"),
    # a bare CR in the chunk-size line (the next byte taken for LF)
    "bare_cr_in_size_line": (b"", b"5\rXhello\r\n0\r\n\r\n"),
    # LF alone as the end of the body
    "lf_ends_body": (b"5\r\nhello\r\n", b"0\r\n\n"),
    # bytes after the size that are no chunk extension
    "junk_after_size": (b"", b"5 XY\r\nhello\r\n0\r\n\r\n"),
    "ctl_in_extension": (b"", b"5;a\x01b\r\nhello\r\n0\r\n\r\n"),
    # trailers: folded, bare LF, framing fields
    "trailer_obs_fold": (b"5\r\nhello\r\n0\r\n", b"X-T: a\r\n b\r\n\r\n"),
    "trailer_bare_lf": (b"5\r\nhello\r\n0\r\n", b"X-T: a\nX-U: b\r\n\r\n"),
    "trailer_content_length": (b"5\r\nhello\r\n0\r\n", b"Content-Length: 5\r\n\r\n"),
    "trailer_bad_name": (b"5\r\nhello\r\n0\r\n", b"X T: a\r\n\r\n"),
    # refused by http-parser already; kept so the replacement refuses them too
    "lf_only_size_line": (b"", b"5\nhello\r\n0\r\n\r\n"),
    "size_overflow": (b"", b"fffffffffffffffff\r\nhello\r\n0\r\n\r\n"),
    "size_0x": (b"", b"0x5\r\nhello\r\n0\r\n\r\n"),
}

# response heads the engine must answer with 502 (or a reset) instead of relaying
BAD_RESPONSE_HEADS = {
    "te_on_http10": b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "te_not_chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    "cl_and_te": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "double_cl": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    "cl_plus": b"HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello",
    "bare_lf": b"HTTP/1.1 200 OK\nContent-Length: 5\n\nhello",
    "obs_fold": b"HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 5\r\n\r\nhello",
    "bad_name": b"HTTP/1.1 200 OK\r\nX A: a\r\nContent-Length: 5\r\n\r\nhello",
    "long_line": b"HTTP/1.1 200 OK\r\nX-A: " + b"a" * 9000 + b"\r\nContent-Length: 5\r\n\r\nhello",
}

PATHS = ["forward", "transparent", "tunnelled", "intercepted"]


class Client:
    """A client of one engine path to the raw upstream `up` (plain or TLS)."""

    def __init__(self, bench, path, up, pki_dir=None):
        self.bench, self.path, self.up = bench, path, up
        if path == "intercepted":
            bench.home.joinpath("config").mkdir(parents=True, exist_ok=True)
            bench.policy([("allow", HOST)])
            bench.settings(proxy_resolve=f"{HOST}:443=127.0.0.1:{up.port}",
                           proxy_upstreamCA=str(pki_dir / "ca.pem"))
            secret_set(bench, "anthropic", STORED)
            start_icpt(bench)
            self.host = HOST
        else:
            bench.policy([("allow", "raw.test")])
            bench.settings(proxy_resolve=f"raw.test:{up.port}=127.0.0.1:{up.port}")
            bench.start(transparent=path == "transparent", dns=False)
            self.host = f"raw.test:{up.port}"

    def open(self):
        b = self.bench
        if self.path == "forward":
            return socket.create_connection(("127.0.0.1", b.port), timeout=10)
        if self.path == "transparent":
            s = socket.create_connection(("127.0.0.1", b.port), timeout=10)
            s.sendall(f"PROXY TCP4 10.0.2.15 203.0.113.9 40000 {self.up.port}\r\n".encode())
            return s
        if self.path == "tunnelled":   # plain HTTP inside a CONNECT tunnel
            s, head = connect_raw(b.port, self.host)
            assert head.startswith(b"HTTP/1.1 200"), head
            return s
        s, head = connect_raw(b.port, f"{HOST}:443")
        assert head.startswith(b"HTTP/1.1 200"), head
        return sbx_ctx(b).wrap_socket(s, server_hostname=HOST)

    def target(self, path):
        return f"http://{self.host}{path}" if self.path == "forward" else path

    def head(self, method, path, extra=b"", version=b"HTTP/1.1"):
        return (method + b" " + self.target(path).encode() + b" " + version + b"\r\nHost: " +
                self.host.encode() + b"\r\n" + extra + b"\r\n")


def client_for(bench, path, up, request):
    return Client(bench, path, up, request.getfixturevalue("pki") if path == "intercepted" else None)


def tls_ctx_for(path, request):
    if path != "intercepted":
        return None
    d = request.getfixturevalue("pki")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(d / "leaf.pem", d / "leaf.key")
    return ctx


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("case", sorted(CHUNKED))
def test_request_chunked_body_refused(bench, request, path, case):
    good, bad = CHUNKED[case]
    up = RawUpstream(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", tls_ctx_for(path, request))
    try:
        cl = client_for(bench, path, up, request)
        s = cl.open()
        s.sendall(cl.head(b"POST", "/up", b"Transfer-Encoding: chunked\r\n") + good + bad)
        got = read_all(s, 3)
        s.close()
        # the upstream may have the head and the valid prefix, never the rest
        assert bad not in up.received(), (case, up.received())
    finally:
        up.close()


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("case", sorted(CHUNKED))
def test_response_chunked_body_refused(bench, request, path, case):
    good, bad = CHUNKED[case]
    up = RawUpstream(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + good + bad,
                     tls_ctx_for(path, request))
    try:
        cl = client_for(bench, path, up, request)
        s = cl.open()
        s.sendall(cl.head(b"GET", "/down"))
        got = read_all(s, 3)
        assert bad not in got, (case, got)
    finally:
        up.close()


@pytest.mark.parametrize("path", PATHS)
def test_request_te_on_http10_refused(bench, request, path):
    up = RawUpstream(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", tls_ctx_for(path, request))
    try:
        cl = client_for(bench, path, up, request)
        s = cl.open()
        s.sendall(cl.head(b"POST", "/te10", b"Transfer-Encoding: chunked\r\n", b"HTTP/1.0") +
                  b"5\r\nhello\r\n0\r\n\r\n")
        r = recv_response(s)
        assert r is not None and r[0] == 400, r
        assert b"hello" not in up.received()
    finally:
        up.close()


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("case", sorted(BAD_RESPONSE_HEADS))
def test_bad_response_head_not_relayed(bench, request, path, case):
    up = RawUpstream(BAD_RESPONSE_HEADS[case], tls_ctx_for(path, request))
    try:
        cl = client_for(bench, path, up, request)
        s = cl.open()
        s.sendall(cl.head(b"GET", "/h"))
        got = read_all(s, 3)
        # an answer of ours (502), or nothing: never the upstream's head or body
        assert not got or got.startswith(b"HTTP/1.1 502"), (case, got[:200])
        assert b"hello" not in got
    finally:
        up.close()


@pytest.mark.parametrize("path", PATHS)
def test_strict_bodies_still_pass(bench, request, path):
    """Valid chunked bodies (extensions, trailers, many chunks) go through unchanged."""
    body = b"5;name=value\r\nhello\r\n3 ; q=\"a b\"\r\nabc\r\n0\r\nX-Sum: 1\r\n\r\n"
    reply = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body
    up = RawUpstream(reply, tls_ctx_for(path, request), until=body)
    try:
        cl = client_for(bench, path, up, request)
        s = cl.open()
        s.sendall(cl.head(b"POST", "/ok", b"Transfer-Encoding: chunked\r\n") + body)
        got = b""
        s.settimeout(5)
        while not got.endswith(body):
            d = s.recv(65536)
            if not d:
                break
            got += d
        assert got.startswith(b"HTTP/1.1 200 OK") and got.endswith(body), got
        assert up.received().endswith(body)
    finally:
        up.close()
