# SPDX-License-Identifier: MIT
# tests/proxy/test_every_request.py: every plain-HTTP request that crosses the engine is
# checked and audited, not only a connection's first: keep-alive and pipelined requests on
# the transparent path, HTTP inside a CONNECT tunnel; a request whose Host differs from
# the connection's name gets 421; bytes that are neither TLS nor HTTP are relayed only
# when a rule names the port (else a Host-routing CDN behind an allowed name would reach
# any site it serves).
import json
import socket
import time

from conftest import closed, recv_response
from rawup import read_all
from test_dns_transparent import tp_connect
from test_forward import connect, resolve_map


def transparent(bench, upstreams, rules, names=(("a.test", "a"), ("b.test", "b"))):
    bench.policy(rules)
    bench.settings(proxy_resolve=resolve_map(upstreams, list(names)))
    return bench.start(transparent=True)


def get(s, host, path="/", extra=b""):
    s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: " + host.encode() + b"\r\n" + extra + b"\r\n")
    return recv_response(s)


def requests_audited(bench):
    return [(e["host"], e.get("url_path"), e.get("status"), e["decision"]) for e in bench.audit() if e.get("method")]


def test_transparent_keepalive_other_host_misdirected(bench, upstreams):
    transparent(bench, upstreams, [("allow", "a.test")])
    a = upstreams["a"]
    s = tp_connect(bench, "203.0.113.9", a)
    status, _, body = get(s, f"a.test:{a}", "/first")
    assert status == 200 and json.loads(body)["path"] == "/first"
    # the second request on the same connection names another site: never relayed
    status, _, body = get(s, "evil.test", "/second")
    assert status == 421, (status, body)
    assert b"evil.test" in body
    assert closed(s)
    assert requests_audited(bench) == [("a.test", "/first", 200, "allow"), ("evil.test", "/second", 421, "deny")]


def test_transparent_pipelined_other_host_misdirected(bench, upstreams):
    transparent(bench, upstreams, [("allow", "a.test")])
    a = upstreams["a"]
    s = tp_connect(bench, "203.0.113.9", a)
    s.sendall(f"GET /one HTTP/1.1\r\nHost: a.test\r\n\r\nGET /two HTTP/1.1\r\nHost: evil.test\r\n\r\n".encode())
    got = read_all(s, 5)
    assert got.startswith(b"HTTP/1.1 200") and b'"path": "/one"' in got, got
    assert b"HTTP/1.1 421" in got and b'"/two"' not in got, got
    assert [r[:3] for r in requests_audited(bench)] == [("a.test", "/one", 200), ("evil.test", "/two", 421)]


def test_transparent_other_port_in_host_misdirected(bench, upstreams):
    transparent(bench, upstreams, [("allow", "a.test")])
    s = tp_connect(bench, "203.0.113.9", upstreams["a"])
    status, _, _ = get(s, "a.test:1")
    assert status == 421


def test_transparent_synthetic_address_binds_the_name(bench, upstreams):
    """The guest dialled a.test's synthetic address: a Host naming b.test (allowed too)
    is misdirected, not routed to b.test."""
    transparent(bench, upstreams, [("allow", "a.test"), ("allow", "b.test")])
    a = upstreams["a"]
    addr = bench.dns("a.test")["answers"][0][2]
    s = tp_connect(bench, addr, a)
    status, _, _ = get(s, "b.test")
    assert status == 421
    s = tp_connect(bench, addr, a)
    status, _, body = get(s, "a.test", "/ok")
    assert status == 200 and json.loads(body)["server"] == "A"


def test_transparent_keepalive_policy_change_applies(bench, upstreams):
    """Each request is checked against the policy of its time."""
    transparent(bench, upstreams, [("allow", "a.test")])
    s = tp_connect(bench, "203.0.113.9", upstreams["a"])
    assert get(s, "a.test")[0] == 200
    bench.policy([("allow", "b.test")])
    time.sleep(1.5)
    status, _, body = get(s, "a.test", "/later")
    assert status == 403 and b"a.test" in body


def tunnel_to_a(bench, upstreams):
    """A CONNECT tunnel to a.test's plain-HTTP port, allowed by a rule without port."""
    bench.policy([("allow", "a.test")])
    bench.settings(proxy_resolve=resolve_map(upstreams, [("a.test", "a")]))
    bench.start()
    a = upstreams["a"]
    s, head = connect(bench.port, f"a.test:{a}")
    assert head.startswith(b"HTTP/1.1 200")
    return s, a


def test_connect_plain_http_checked_per_request(bench, upstreams):
    """CONNECT to an allowed name's plain-HTTP port (rule without port): the requests in
    the tunnel are parsed, checked and audited one by one."""
    s, a = tunnel_to_a(bench, upstreams)
    status, _, body = get(s, f"a.test:{a}", "/in-tunnel")
    assert status == 200 and json.loads(body)["path"] == "/in-tunnel"
    status, _, body = get(s, "cdn-neighbour.test", "/steal")
    assert status == 421, (status, body)
    assert [r[:3] for r in requests_audited(bench)] == [("a.test", "/in-tunnel", 200),
                                                        ("cdn-neighbour.test", "/steal", 421)]


def test_connect_plain_http_absolute_form_refused(bench, upstreams):
    s, a = tunnel_to_a(bench, upstreams)
    status, _, _ = get(s, f"a.test:{a}", "http://evil.test/")
    assert status == 400


def test_connect_raw_bytes_need_a_port_rule(bench, upstreams):
    bench.policy([("allow", "echo.test")])
    bench.settings(proxy_resolve=resolve_map(upstreams, [("echo.test", "echo")]))
    bench.start()
    s, head = connect(bench.port, f"echo.test:{upstreams['echo']}")
    assert head.startswith(b"HTTP/1.1 200")
    s.sendall(b"\r\nGET / HTTP/1.1\r\nHost: evil.test\r\n\r\n")   # leading CRLF: not an HTTP start
    assert closed(s)
    e = bench.audit()[-1]
    assert e["decision"] == "deny" and "naming port" in e["reason"]


def test_transparent_raw_bytes_need_a_port_rule(bench, upstreams):
    transparent(bench, upstreams, [("allow", "echo.test"), ("allow", "a.test")],
                names=(("echo.test", "echo"), ("a.test", "a")))
    addr = bench.dns("echo.test")["answers"][0][2]
    s = tp_connect(bench, addr, upstreams["echo"])
    s.sendall(b"\x00\x01binary")
    assert closed(s)
    e = bench.audit()[-1]
    assert e["decision"] == "deny" and "naming port" in e["reason"]
    # an HTTP server behind an allowed name: a request hidden behind a leading CRLF
    addr = bench.dns("a.test")["answers"][0][2]
    s = tp_connect(bench, addr, upstreams["a"])
    s.sendall(b"\r\nGET /hidden HTTP/1.1\r\nHost: evil.test\r\n\r\n")
    assert closed(s)
    assert not [r for r in requests_audited(bench) if r[2] == 200]


def test_transparent_late_request_after_server_first_wait(bench, upstreams):
    """No bytes within the server-first wait: the tunnel would be raw; without a rule
    naming the port it is refused, so a request sent later cannot slip through."""
    transparent(bench, upstreams, [("allow", "a.test")])
    addr = bench.dns("a.test")["answers"][0][2]
    s = tp_connect(bench, addr, upstreams["a"])
    time.sleep(1.5)
    try:
        s.sendall(b"GET /late HTTP/1.1\r\nHost: evil.test\r\n\r\n")
        r = recv_response(s)
    except (ConnectionResetError, BrokenPipeError, socket.timeout):
        r = None
    assert r is None, r


def test_forward_host_header_follows_the_url(bench, upstreams):
    """Absolute-form requests: the URL names the destination, and the upstream gets a
    Host naming exactly that, whatever Host the client sent."""
    bench.policy([("allow", "a.test")])
    bench.settings(proxy_resolve=resolve_map(upstreams, [("a.test", "a")]))
    bench.start()
    a = upstreams["a"]
    s = socket.create_connection(("127.0.0.1", bench.port), timeout=10)
    s.sendall(f"GET http://a.test:{a}/x HTTP/1.1\r\nHost: evil.test\r\n\r\n".encode())
    status, _, body = recv_response(s)
    hosts = [v for k, v in json.loads(body)["headers"] if k.lower() == "host"]
    assert status == 200 and hosts == [f"a.test:{a}"]


def test_transparent_malformed_or_missing_host(bench, upstreams):
    transparent(bench, upstreams, [("allow", "a.test"), ("allow", "**")], names=(("a.test", "a"),))
    for host in ("2001:db8::1", "a.test:80:80", "a.test:", "a test"):
        s = tp_connect(bench, "203.0.113.9", upstreams["a"])
        status, _, _ = get(s, host)
        assert status == 400, host
    s = tp_connect(bench, "203.0.113.9", upstreams["a"])
    s.sendall(b"GET / HTTP/1.1\r\n\r\n")
    assert recv_response(s)[0] == 400
    assert all(e["decision"] == "deny" for e in bench.audit())
    # HTTP/1.0 without Host on a synthetic address: the upstream gets that name
    addr = bench.dns("a.test")["answers"][0][2]
    s = tp_connect(bench, addr, upstreams["a"])
    s.sendall(b"GET /old HTTP/1.0\r\n\r\n")
    status, _, body = recv_response(s)
    hosts = [v for k, v in json.loads(body)["headers"] if k.lower() == "host"]
    assert status == 200 and hosts == [f"a.test:{upstreams['a']}"]
