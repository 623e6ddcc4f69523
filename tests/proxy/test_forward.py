# SPDX-License-Identifier: MIT
# tests/proxy/test_forward.py: the forward path: absolute-form HTTP, CONNECT tunnels,
# keep-alive across hosts, denials, SNI checks, flow control, audit lines.
import json
import socket
import ssl
import subprocess
import time

from conftest import closed, recv_response


def resolve_map(up, names):
    """proxy.resolve value mapping NAME:PORT to 127.0.0.1:PORT."""
    return ",".join(f"{n}:{up[k]}=127.0.0.1:{up[k]}" for n, k in names)


def get(port, url, extra=b"", method=b"GET", body=b""):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    req = method + b" " + url.encode() + b" HTTP/1.1\r\nHost: ignored\r\n" + extra
    if body:
        req += b"Content-Length: %d\r\n" % len(body)
    s.sendall(req + b"\r\n" + body)
    r = recv_response(s)
    return s, r


def test_allowed_absolute_form(bench, upstreams):
    bench.policy([("allow", "a.test")])
    bench.settings(proxy_resolve=resolve_map(upstreams, [("a.test", "a")]))
    bench.start()
    s, (status, headers, body) = get(
        bench.port, f"http://A.Test.:{upstreams['a']}/p/q?x=1",
        b"Proxy-Connection: keep-alive\r\nProxy-Authorization: Basic Zm9vOmJhcg==\r\n"
        b"Connection: X-Secret\r\nX-Secret: 1\r\nX-Kept: yes\r\nTE: trailers\r\n")
    assert status == 200
    info = json.loads(body)
    assert info["server"] == "A"
    assert info["path"] == "/p/q?x=1"
    names = {k.lower(): v for k, v in info["headers"]}
    assert names["host"] == f"a.test:{upstreams['a']}"
    assert names["x-kept"] == "yes"
    for hop in ("proxy-connection", "proxy-authorization", "x-secret", "te", "connection"):
        assert hop not in names, hop
    s.close()
    log = bench.audit()
    assert log[-1]["decision"] == "allow" and log[-1]["host"] == "a.test"
    assert log[-1]["path"] == "forward" and log[-1]["method"] == "GET"
    assert log[-1]["url_path"] == "/p/q?x=1" and log[-1]["status"] == 200
    assert log[-1]["addr"] == "127.0.0.1" and log[-1]["port"] == upstreams["a"]


def test_denied_gets_403_and_close(bench, upstreams):
    bench.policy([("allow", "a.test")])
    bench.start()
    s, (status, headers, body) = get(bench.port, "http://nope.test/x")
    assert status == 403
    assert headers["connection"] == "close"
    assert headers["content-type"].startswith("text/plain")
    assert body == (b"sbx: blocked nope.test:80 (default deny). "
                    b"Allow it with: sbx policy allow network nope.test\n")
    assert closed(s)
    e = bench.audit()[-1]
    assert e["decision"] == "deny" and e["rule"] == "default deny" and e["status"] == 403


def test_deny_rule_named(bench, upstreams):
    bench.policy([("allow", "**.test"), ("deny", "bad.test")])
    bench.settings(proxy_resolve=resolve_map(upstreams, [("bad.test", "a")]))
    bench.start()
    _, (status, _, body) = get(bench.port, f"http://bad.test:{upstreams['a']}/")
    assert status == 403 and b"(bad.test)" in body


def test_ports(bench, upstreams):
    bench.policy([("allow", f"a.test:{upstreams['a']}")])
    bench.settings(proxy_resolve=resolve_map(upstreams, [("a.test", "a")]) +
                   f",a.test:{upstreams['b']}=127.0.0.1:{upstreams['b']}")
    bench.start()
    _, (status, _, _) = get(bench.port, f"http://a.test:{upstreams['a']}/")
    assert status == 200
    _, (status, _, body) = get(bench.port, f"http://a.test:{upstreams['b']}/")
    assert status == 403 and f"a.test:{upstreams['b']}".encode() in body


def test_origin_form_and_other_schemes_refused(bench):
    bench.policy([("allow", "**")])
    bench.start()
    _, (status, _, body) = get(bench.port, "/index.html")
    assert status == 400 and b"absolute-form" in body
    _, (status, _, _) = get(bench.port, "https://a.test/")
    assert status == 400
    _, (status, _, _) = get(bench.port, "http://user@a.test/")
    assert status == 400


def test_keepalive_two_hosts_each_checked(bench, upstreams):
    bench.policy([("allow", "a.test"), ("allow", "b.test")])
    bench.settings(proxy_resolve=resolve_map(upstreams, [("a.test", "a"), ("b.test", "b")]))
    bench.start()
    s = socket.create_connection(("127.0.0.1", bench.port), timeout=10)
    for host, key in (("a.test", "a"), ("b.test", "b"), ("a.test", "a"), ("a.test", "a")):
        s.sendall(f"GET http://{host}:{upstreams[key]}/k HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        status, _, body = recv_response(s)
        assert status == 200 and json.loads(body)["server"] == key.upper()
    # pipelined: two requests in one write, answered in order
    s.sendall(f"GET http://b.test:{upstreams['b']}/1 HTTP/1.1\r\nHost: x\r\n\r\n"
              f"GET http://a.test:{upstreams['a']}/2 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    st1, _, b1 = recv_response(s)
    st2, _, b2 = recv_response(s)
    assert (json.loads(b1)["server"], json.loads(b1)["path"]) == ("B", "/1")
    assert (json.loads(b2)["server"], json.loads(b2)["path"]) == ("A", "/2")
    # a denied host on the same connection: 403, then closed
    s.sendall(b"GET http://c.test/ HTTP/1.1\r\nHost: x\r\n\r\n")
    status, _, _ = recv_response(s)
    assert status == 403
    assert closed(s)
    decisions = [(e["host"], e["decision"]) for e in bench.audit()]
    assert decisions[-1] == ("c.test", "deny")
    assert decisions.count(("a.test", "allow")) == 4


def test_post_bodies(bench, upstreams):
    import hashlib
    bench.policy([("allow", "a.test")])
    bench.settings(proxy_resolve=resolve_map(upstreams, [("a.test", "a")]))
    bench.start()
    body = bytes(range(256)) * 8192   # 2 MiB: more than any buffer in the engine
    s, (status, _, rb) = get(bench.port, f"http://a.test:{upstreams['a']}/up", method=b"POST", body=body)
    assert status == 200
    info = json.loads(rb)
    assert info["body_len"] == len(body) and info["body_sha"] == hashlib.sha256(body).hexdigest()
    # chunked, then another request on the same connection
    s.sendall(f"POST http://a.test:{upstreams['a']}/c HTTP/1.1\r\nHost: x\r\n"
              "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n".encode())
    status, _, rb = recv_response(s)
    assert status == 200 and json.loads(rb)["body_len"] == 11
    s.sendall(f"GET http://a.test:{upstreams['a']}/after HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    status, _, rb = recv_response(s)
    assert json.loads(rb)["path"] == "/after"


def test_head_and_large_download(bench, upstreams):
    bench.policy([("allow", "a.test")])
    bench.settings(proxy_resolve=resolve_map(upstreams, [("a.test", "a")]))
    bench.start()
    s = socket.create_connection(("127.0.0.1", bench.port), timeout=20)
    s.sendall(f"HEAD http://a.test:{upstreams['a']}/h HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    s.settimeout(10)
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(4096)
    assert head.startswith(b"HTTP/1.1 200") and head.endswith(b"\r\n\r\n")
    n = 32 * 1024 * 1024
    s.sendall(f"GET http://a.test:{upstreams['a']}/bytes/{n} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    status, _, body = recv_response(s, timeout=60)
    assert status == 200 and len(body) == n


def test_curl_expect_continue(bench, upstreams, tmp_path):
    bench.policy([("allow", "a.test")])
    bench.settings(proxy_resolve=resolve_map(upstreams, [("a.test", "a")]))
    bench.start()
    f = tmp_path / "up.bin"
    f.write_bytes(b"z" * (3 * 1024 * 1024))
    r = subprocess.run(["curl", "-sS", "--max-time", "30", "-x", f"http://127.0.0.1:{bench.port}",
                        "-H", "Expect: 100-continue", "--data-binary", f"@{f}",
                        f"http://a.test:{upstreams['a']}/e"], capture_output=True, check=True)
    assert json.loads(r.stdout)["body_len"] == 3 * 1024 * 1024


def test_websocket_upgrade(bench, upstreams):
    bench.policy([("allow", "a.test")])
    bench.settings(proxy_resolve=resolve_map(upstreams, [("a.test", "a")]))
    bench.start()
    s = socket.create_connection(("127.0.0.1", bench.port), timeout=10)
    s.sendall(f"GET http://a.test:{upstreams['a']}/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
              "Connection: Upgrade\r\nSec-WebSocket-Key: x\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    assert head.startswith(b"HTTP/1.1 101")
    s.sendall(b"raw bytes both ways")
    got = b""
    while len(got) < 19:
        got += s.recv(100)
    assert got == b"raw bytes both ways"


# ---------------------------------------------------------------- CONNECT

def connect(port, target):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        d = s.recv(1)
        if not d:
            break
        head += d
    return s, head


def tls_client(certs, sni):
    ctx = ssl.create_default_context(cafile=str(certs / "cert.pem"))
    if sni is None:
        ctx.check_hostname = False
    return ctx


def test_connect_tunnel_curl(bench, upstreams, certs):
    bench.policy([("allow", "secure.test")])
    bench.settings(proxy_resolve=resolve_map(upstreams, [("secure.test", "tls")]))
    bench.start()
    r = subprocess.run(["curl", "-sS", "--max-time", "20", "--cacert", str(certs / "cert.pem"),
                        "-x", f"http://127.0.0.1:{bench.port}",
                        f"https://secure.test:{upstreams['tls']}/over/tls"], capture_output=True)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["server"] == "S" and info["path"] == "/over/tls"
    e = bench.audit()[-1]
    assert e["decision"] == "allow" and e["path"] == "forward" and "method" not in e


def test_connect_denied(bench, upstreams):
    bench.policy([("allow", "secure.test")])
    bench.start()
    s, head = connect(bench.port, "evil.test:443")
    assert head.startswith(b"HTTP/1.1 403")
    assert closed(s)
    assert bench.audit()[-1]["decision"] == "deny"


def test_connect_sni_mismatch_ends_tunnel(bench, upstreams, certs):
    bench.policy([("allow", "secure.test"), ("allow", "other.test")])
    bench.settings(proxy_resolve=resolve_map(upstreams, [("secure.test", "tls")]))
    bench.start()
    s, head = connect(bench.port, f"secure.test:{upstreams['tls']}")
    assert head.startswith(b"HTTP/1.1 200")
    ctx = tls_client(certs, "other.test")
    try:
        t = ctx.wrap_socket(s, server_hostname="other.test")
        t.sendall(b"GET / HTTP/1.1\r\nHost: other.test\r\n\r\n")
        assert not t.recv(100)
        raise AssertionError("handshake through a mismatched SNI succeeded")
    except (ssl.SSLError, ConnectionResetError, OSError):
        pass
    e = bench.audit()[-1]
    assert e["decision"] == "deny" and "other.test" in e["reason"]
    # the matching name works
    s, head = connect(bench.port, f"secure.test:{upstreams['tls']}")
    t = tls_client(certs, "secure.test").wrap_socket(s, server_hostname="secure.test")
    t.sendall(b"GET /ok HTTP/1.1\r\nHost: secure.test\r\nConnection: close\r\n\r\n")
    status, _, body = recv_response(t)
    assert status == 200 and json.loads(body)["path"] == "/ok"


def test_connect_without_sni_allowed(bench, upstreams, certs):
    bench.policy([("allow", "secure.test")])
    bench.settings(proxy_resolve=resolve_map(upstreams, [("secure.test", "tls")]))
    bench.start()
    s, head = connect(bench.port, f"secure.test:{upstreams['tls']}")
    assert head.startswith(b"HTTP/1.1 200")
    t = tls_client(certs, None).wrap_socket(s, server_hostname=None)
    t.sendall(b"GET /nosni HTTP/1.1\r\nHost: secure.test\r\nConnection: close\r\n\r\n")
    status, _, body = recv_response(t)
    assert status == 200


def test_connect_plain_bytes_and_half_close(bench, upstreams):
    # neither TLS nor HTTP in the tunnel: allowed because the rule names the port
    bench.policy([("allow", f"echo.test:{upstreams['echo']}")])
    bench.settings(proxy_resolve=resolve_map(upstreams, [("echo.test", "echo")]))
    bench.start()
    s, head = connect(bench.port, f"echo.test:{upstreams['echo']}")
    assert head.startswith(b"HTTP/1.1 200")
    payload = b"0123456789" * 200000   # 2 MB each way, through bounded buffers
    import threading
    got = bytearray()

    def reader():
        while True:
            d = s.recv(65536)
            if not d:
                return
            got.extend(d)
    t = threading.Thread(target=reader)
    t.start()
    s.sendall(payload)
    s.shutdown(socket.SHUT_WR)
    t.join(30)
    assert bytes(got) == payload


def test_policy_reload(bench, upstreams):
    bench.policy([("allow", "a.test")])
    bench.settings(proxy_resolve=resolve_map(upstreams, [("a.test", "a")]))
    bench.start()
    _, (status, _, _) = get(bench.port, f"http://a.test:{upstreams['a']}/")
    assert status == 200
    bench.policy([("allow", "b.test")])
    time.sleep(1.0)
    _, (status, _, _) = get(bench.port, f"http://a.test:{upstreams['a']}/")
    assert status == 403


def test_no_policy_denies(bench):
    bench.start()
    _, (status, _, body) = get(bench.port, "http://a.test/")
    assert status == 403
    assert bench.audit()[-1]["reason"].startswith("no policy")


def test_sandbox_scoped_rules(bench, upstreams):
    bench.policy([("allow", "a.test", "someone-else")])
    bench.settings(proxy_resolve=resolve_map(upstreams, [("a.test", "a")]))
    bench.start()
    _, (status, _, _) = get(bench.port, f"http://a.test:{upstreams['a']}/")
    assert status == 403
    assert bench.audit()[-1]["sandbox"] == "sb1"


def test_slow_reader_backpressure(bench, upstreams):
    """The client stops reading: the engine stops reading the upstream, then resumes."""
    bench.policy([("allow", "a.test")])
    bench.settings(proxy_resolve=resolve_map(upstreams, [("a.test", "a")]))
    bench.start()
    n = 24 * 1024 * 1024
    s = socket.create_connection(("127.0.0.1", bench.port), timeout=30)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    s.sendall(f"GET http://a.test:{upstreams['a']}/bytes/{n} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    time.sleep(1.5)
    status, _, body = recv_response(s, timeout=60)
    assert status == 200 and len(body) == n
    s.sendall(f"GET http://a.test:{upstreams['a']}/next HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    status, _, body = recv_response(s)
    assert json.loads(body)["path"] == "/next"


def test_invalid_names_and_alias_text(bench, upstreams):
    bench.policy([("allow", "**")], preset="allow-all")
    bench.start()
    _, (status, _, body) = get(bench.port, "http://bad..name/")
    assert status in (400, 403)
    _, (status, _, body) = get(bench.port, "http://host.docker.internal:8080/")
    assert status == 403
    assert b"Allow it with: sbx policy allow network localhost:8080" in body
