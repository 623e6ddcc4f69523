# SPDX-License-Identifier: MIT
# tests/proxy/test_intercept.py: TLS interception and credential injection in the egress
# engine: a fake api.anthropic.com on 127.0.0.1 (a test CA given as proxy.upstreamCA, the
# name mapped with proxy.resolve), a stored secret, clients trusting sbx's CA.
import hashlib
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest

from conftest import SBX, closed, recv_response, start_http
from test_forward import connect as connect_raw

STORED = "sk-ant-stored-0123456789abcdef"
ENVKEY = "sk-ant-from-env-9876543210"
HOST = "api.anthropic.com"


# ---------------------------------------------------------------- certificates, upstreams

def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki():
    """A test CA, a leaf it signed for api.anthropic.com and other.test, and a self-signed
    (untrusted) certificate for api.anthropic.com."""
    d = Path(tempfile.mkdtemp(prefix="sbx-intercept-pki-"))
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
             "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=sbx test upstream CA",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign",
             cwd=d)
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "leaf.key",
             "-out", "leaf.csr", "-subj", f"/CN={HOST}", cwd=d)
    (d / "ext.cnf").write_text(f"subjectAltName=DNS:{HOST},DNS:other.test\nextendedKeyUsage=serverAuth\n")
    _openssl("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-days", "2", "-extfile", "ext.cnf", "-out", "leaf.pem", cwd=d)
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
             "-keyout", "rogue.key", "-out", "rogue.pem", "-subj", f"/CN={HOST}",
             "-addext", f"subjectAltName=DNS:{HOST}", cwd=d)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def tls_up(pki):
    good = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    good.load_cert_chain(pki / "leaf.pem", pki / "leaf.key")
    rogue = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    rogue.load_cert_chain(pki / "rogue.pem", pki / "rogue.key")
    t = start_http("T", good)
    r = start_http("R", rogue)
    p = start_http("P")
    yield {"tls": t.server_address[1], "rogue": r.server_address[1], "plain": p.server_address[1]}
    for srv in (t, r, p):
        srv.shutdown()
        srv.server_close()


# ---------------------------------------------------------------- harness

def start(bench, caller_env=None):
    """bench.start(), optionally with --caller-env and these service variables."""
    if caller_env is None:
        return bench.start()
    args = [str(SBX), "proxy-bench", "--sandbox", bench.sandbox, "--listen", "127.0.0.1:0", "--caller-env"]
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_TOKEN"))}
    env.update(caller_env, SBX_HOME=str(bench.home))
    bench.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=open(bench.home / "bench.err", "wb"),
                                  env=env)
    line = bench.proc.stdout.readline().decode()
    if not line:
        raise RuntimeError("proxy-bench exited: " + (bench.home / "bench.err").read_text())
    bench.ports = {"forward": int(line.split()[2].rsplit(":", 1)[1])}
    return bench


def secret_set(bench, service, value, sandbox=None):
    args = [str(SBX), "secret", "set"] + (["--sandbox", sandbox] if sandbox else ["-g"]) + [service]
    r = subprocess.run(args, input=value.encode() + b"\n", capture_output=True,
                       env=dict(os.environ, SBX_HOME=str(bench.home)))
    if r.returncode != 0 and b"unknown command" in r.stderr:
        # no `sbx secret` yet: the file secrets.c reads (0600)
        p = bench.home / "config" / "secrets.json"
        data = json.loads(p.read_text()) if p.exists() else {"version": 1, "global": {}, "sandboxes": {}}
        (data["sandboxes"].setdefault(sandbox, {}) if sandbox else data["global"])[service] = value
        p.write_text(json.dumps(data))
        os.chmod(p, 0o600)
        return
    assert r.returncode == 0, r.stderr


def configure(bench, pki, tls_up, upstream="tls", ca=True, more_rules=(), **settings):
    bench.home.joinpath("config").chmod(0o700)
    bench.policy([("allow", HOST), ("allow", "other.test")] + list(more_rules))
    resolve = (f"{HOST}:443=127.0.0.1:{tls_up[upstream]},other.test:443=127.0.0.1:{tls_up['tls']},"
               f"{HOST}:{tls_up['plain']}=127.0.0.1:{tls_up['plain']}")
    kv = {"proxy_resolve": resolve}
    if ca:
        kv["proxy_upstreamCA"] = str(pki / "ca.pem")
    kv.update(settings)
    bench.settings(**kv)


def connect(bench, target):
    s, head = connect_raw(bench.port, target)
    assert head.startswith(b"HTTP/1.1 200"), head
    return s


def sbx_ctx(bench):
    return ssl.create_default_context(cafile=str(bench.home / "config" / "ca" / "ca.crt"))


def up_ctx(pki):
    return ssl.create_default_context(cafile=str(pki / "ca.pem"))


def tls_to(bench, ctx, host=HOST, target=None):
    s = connect(bench, target or f"{host}:443")
    return ctx.wrap_socket(s, server_hostname=host)


def request(t, path="/v1/messages", host=HOST, extra=b"", method=b"GET", body=b"", close=False):
    req = method + b" " + path.encode() + b" HTTP/1.1\r\nHost: " + host.encode() + b"\r\n" + extra
    if body:
        req += b"Content-Length: %d\r\n" % len(body)
    if close:
        req += b"Connection: close\r\n"
    t.sendall(req + b"\r\n" + body)
    return recv_response(t)


def seen(body):
    """Headers the upstream received: name (lower case) -> list of values."""
    out = {}
    for k, v in json.loads(body)["headers"]:
        out.setdefault(k.lower(), []).append(v)
    return out


def issuer_cn(t):
    cert = t.getpeercert()
    return dict(x[0] for x in cert["issuer"])["commonName"]


def no_key_anywhere(bench, *keys):
    files = [bench.home / "state" / "audit.log", bench.home / "bench.err"]
    for f in files:
        if f.exists():
            data = f.read_bytes()
            for k in keys:
                assert k.encode() not in data, f"{k} found in {f}"


GUEST = b"x-api-key: guest-fake\r\nAuthorization: Bearer guest-auth\r\n"


# ---------------------------------------------------------------- tests

def test_stored_key_injected_guest_headers_replaced(bench, pki, tls_up):
    configure(bench, pki, tls_up)
    secret_set(bench, "anthropic", STORED)
    start(bench)
    t = tls_to(bench, sbx_ctx(bench))
    assert issuer_cn(t).startswith("sbx local CA")
    status, _, body = request(t, extra=GUEST, close=True)
    assert status == 200
    h = seen(body)
    assert h["x-api-key"] == [STORED]
    assert "authorization" not in h
    assert h["host"] == [HOST]
    assert json.loads(body)["server"] == "T" and json.loads(body)["path"] == "/v1/messages"
    assert closed(t)
    audit = bench.audit()
    conn = [e for e in audit if e.get("reason", "").startswith("intercepted")]
    assert conn and conn[0]["host"] == HOST and conn[0]["decision"] == "allow"
    inj = [e for e in audit if e.get("reason") == "injected anthropic"]
    assert len(inj) == 1
    assert inj[0]["path"] == "forward" and inj[0]["host"] == HOST and inj[0]["decision"] == "allow"
    assert inj[0]["method"] == "GET" and inj[0]["url_path"] == "/v1/messages" and inj[0]["status"] == 200
    bench.stop()
    no_key_anywhere(bench, STORED)


@pytest.mark.parametrize("offer,chosen", [(["h2", "http/1.1"], "http/1.1"), (["h2"], None)])
def test_alpn_only_http11_is_chosen(bench, pki, tls_up, offer, chosen):
    """A client offering h2 gets HTTP/1.1 (the only protocol the interceptor frames);
    one offering h2 alone gets no ALPN answer and its HTTP/2 preface a 400."""
    configure(bench, pki, tls_up)
    secret_set(bench, "anthropic", STORED)
    start(bench)
    ctx = sbx_ctx(bench)
    ctx.set_alpn_protocols(offer)
    t = tls_to(bench, ctx)
    assert t.selected_alpn_protocol() == chosen
    if chosen:
        status, _, body = request(t, close=True)
        assert status == 200 and seen(body)["x-api-key"] == [STORED]
    else:
        t.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        status, _, _ = recv_response(t)
        assert status == 400
    bench.stop()


def test_upstream_sessions_resumed_per_host(bench, pki, tls_up):
    """A second intercepted connection to the same host resumes the upstream TLS
    session (the engine kept the ticket) and still gets the key; another host on the
    same upstream address never gets that session."""
    configure(bench, pki, tls_up, proxy_inspect="all")
    secret_set(bench, "anthropic", STORED)
    start(bench)
    got = []
    for host in (HOST, HOST, "other.test", "other.test", HOST):
        t = tls_to(bench, sbx_ctx(bench), host=host)
        status, _, body = request(t, host=host, close=True)
        assert status == 200
        got.append(json.loads(body)["resumed"])
        assert ("x-api-key" in seen(body)) == (host == HOST)
        t.close()
    assert got == [False, True, False, True, True], got
    bench.stop()


def test_keep_alive_every_request_injected(bench, pki, tls_up):
    configure(bench, pki, tls_up)
    secret_set(bench, "anthropic", STORED)
    start(bench)
    t = tls_to(bench, sbx_ctx(bench))
    status, _, body = request(t, "/one", extra=b"x-api-key: first\r\n")
    assert status == 200 and seen(body)["x-api-key"] == [STORED]
    # a Content-Length body, then a chunked one: framing is followed, the next head re-injected
    payload = os.urandom(300000)
    status, _, body = request(t, "/two", method=b"POST", body=payload, extra=b"X-API-KEY: second\r\n")
    info = json.loads(body)
    assert status == 200 and seen(body)["x-api-key"] == [STORED]
    assert info["body_len"] == len(payload) and info["body_sha"] == hashlib.sha256(payload).hexdigest()
    chunked = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    t.sendall(b"POST /three HTTP/1.1\r\nHost: api.anthropic.com:443\r\nTransfer-Encoding: chunked\r\n"
              b"authorization: Bearer x\r\n\r\n" + chunked)
    status, _, body = recv_response(t)
    info = json.loads(body)
    assert status == 200 and info["path"] == "/three" and info["body_len"] == 11
    assert seen(body)["x-api-key"] == [STORED] and "authorization" not in seen(body)
    # HEAD: no body in the answer, the connection goes on
    t.sendall(b"HEAD /four HTTP/1.1\r\nHost: api.anthropic.com\r\n\r\n")
    t.settimeout(10)
    head = b""
    while b"\r\n\r\n" not in head:
        head += t.recv(1)
    assert head.startswith(b"HTTP/1.1 200")
    status, _, body = request(t, "/five", close=True)
    assert status == 200 and seen(body)["x-api-key"] == [STORED]
    inj = [e for e in bench.audit() if e.get("reason") == "injected anthropic"]
    assert [e["url_path"] for e in inj] == ["/one", "/two", "/three", "/four", "/five"]
    bench.stop()
    no_key_anywhere(bench, STORED)


def test_pipelined_requests_in_order(bench, pki, tls_up):
    configure(bench, pki, tls_up)
    secret_set(bench, "anthropic", STORED)
    start(bench)
    t = tls_to(bench, sbx_ctx(bench))
    t.sendall(b"GET /p1 HTTP/1.1\r\nHost: api.anthropic.com\r\n\r\n"
              b"GET /p2 HTTP/1.1\r\nHost: api.anthropic.com\r\nConnection: close\r\n\r\n")
    t.settimeout(10)
    data = b""
    while True:
        d = t.recv(65536)
        if not d:
            break
        data += d
    first, rest = data.split(b"\r\n\r\n", 1)
    n = int([l for l in first.split(b"\r\n") if l.lower().startswith(b"content-length")][0].split(b":")[1])
    b1, rest = rest[:n], rest[n:]
    assert json.loads(b1)["path"] == "/p1"
    b2 = rest.split(b"\r\n\r\n", 1)[1]
    assert json.loads(b2)["path"] == "/p2" and seen(b2)["x-api-key"] == [STORED]


def test_host_mismatch_421(bench, pki, tls_up):
    configure(bench, pki, tls_up)
    secret_set(bench, "anthropic", STORED)
    start(bench)
    t = tls_to(bench, sbx_ctx(bench))
    status, headers, body = request(t, host="other.test", extra=GUEST)
    assert status == 421
    assert b"other.test" in body
    assert closed(t)
    e = bench.audit()[-1]
    assert e["decision"] == "deny" and e["status"] == 421
    # a different port in Host is another origin too
    t = tls_to(bench, sbx_ctx(bench))
    status, _, _ = request(t, host=f"{HOST}:8443")
    assert status == 421
    # and so is a second request that changes Host on a kept-alive connection
    t = tls_to(bench, sbx_ctx(bench))
    status, _, body = request(t, host=f"{HOST}:443")
    assert status == 200 and seen(body)["x-api-key"] == [STORED]
    status, _, _ = request(t, host="evil.test")
    assert status == 421
    bench.stop()
    no_key_anywhere(bench, STORED)


def test_other_host_not_intercepted(bench, pki, tls_up):
    configure(bench, pki, tls_up)
    secret_set(bench, "anthropic", STORED)
    start(bench)
    # the upstream's own certificate: trusted with the test CA, not with sbx's
    with pytest.raises(ssl.SSLError):
        tls_to(bench, sbx_ctx(bench), host="other.test")
    t = tls_to(bench, up_ctx(pki), host="other.test")
    assert issuer_cn(t) == "sbx test upstream CA"
    status, _, body = request(t, host="other.test", extra=GUEST, close=True)
    assert status == 200
    h = seen(body)
    assert h["x-api-key"] == ["guest-fake"] and h["authorization"] == ["Bearer guest-auth"]
    assert not [e for e in bench.audit() if "injected" in e.get("reason", "")]


def test_plain_http_never_injected(bench, pki, tls_up):
    configure(bench, pki, tls_up)
    secret_set(bench, "anthropic", STORED)
    start(bench)
    s = socket.create_connection(("127.0.0.1", bench.port), timeout=10)
    s.sendall(f"GET http://{HOST}:{tls_up['plain']}/plain HTTP/1.1\r\nHost: x\r\n".encode() + GUEST +
              b"Connection: close\r\n\r\n")
    status, _, body = recv_response(s)
    assert status == 200
    h = seen(body)
    assert h["x-api-key"] == ["guest-fake"]
    assert STORED not in body.decode()


def test_untrusted_upstream_502_with_reason(bench, pki, tls_up):
    configure(bench, pki, tls_up, upstream="rogue")
    secret_set(bench, "anthropic", STORED)
    start(bench)
    t = tls_to(bench, sbx_ctx(bench))
    status, headers, body = request(t, extra=GUEST)
    assert status == 502
    text = body.decode()
    assert "certificate" in text and HOST in text, text
    assert closed(t)
    e = [e for e in bench.audit() if e.get("status") == 502]
    assert e and "certificate" in e[-1]["reason"]
    bench.stop()
    assert "certificate" in (bench.home / "bench.err").read_text()
    no_key_anywhere(bench, STORED)


def test_upstream_ca_needed(bench, pki, tls_up):
    # the good upstream, but without proxy.upstreamCA its CA is unknown: 502, never silent
    configure(bench, pki, tls_up, ca=False)
    secret_set(bench, "anthropic", STORED)
    start(bench)
    t = tls_to(bench, sbx_ctx(bench))
    status, _, body = request(t)
    assert status == 502 and b"certificate" in body


def test_no_secret_no_env_not_intercepted(bench, pki, tls_up):
    configure(bench, pki, tls_up)
    start(bench, caller_env={})
    with pytest.raises(ssl.SSLError):
        tls_to(bench, sbx_ctx(bench))
    t = tls_to(bench, up_ctx(pki))
    assert issuer_cn(t) == "sbx test upstream CA"
    status, _, body = request(t, extra=GUEST, close=True)
    assert status == 200 and seen(body)["x-api-key"] == ["guest-fake"]


def test_caller_env_used_when_nothing_stored(bench, pki, tls_up):
    configure(bench, pki, tls_up)
    start(bench, caller_env={"ANTHROPIC_API_KEY": ENVKEY})
    t = tls_to(bench, sbx_ctx(bench))
    status, _, body = request(t, extra=GUEST, close=True)
    assert status == 200 and seen(body)["x-api-key"] == [ENVKEY]
    # stored beats the environment, from the next request on
    secret_set(bench, "anthropic", STORED)
    t = tls_to(bench, sbx_ctx(bench))
    status, _, body = request(t, extra=GUEST, close=True)
    assert status == 200 and seen(body)["x-api-key"] == [STORED]
    bench.stop()
    no_key_anywhere(bench, STORED, ENVKEY)


def test_sandbox_secret_beats_global(bench, pki, tls_up):
    configure(bench, pki, tls_up)
    secret_set(bench, "anthropic", STORED)
    secret_set(bench, "anthropic", "sk-ant-sandbox-only-1234567", sandbox=bench.sandbox)
    start(bench)
    t = tls_to(bench, sbx_ctx(bench))
    status, _, body = request(t, close=True)
    assert seen(body)["x-api-key"] == ["sk-ant-sandbox-only-1234567"]


def test_sni_must_match_connect_host(bench, pki, tls_up):
    configure(bench, pki, tls_up)
    secret_set(bench, "anthropic", STORED)
    start(bench)
    s = connect(bench, f"{HOST}:443")
    ctx = sbx_ctx(bench)
    ctx.check_hostname = False
    with pytest.raises((ssl.SSLError, ConnectionResetError, OSError)):
        t = ctx.wrap_socket(s, server_hostname="other.test")
        t.sendall(b"GET / HTTP/1.1\r\nHost: other.test\r\n\r\n")
        if not t.recv(100):
            raise ConnectionResetError
    e = bench.audit()[-1]
    assert e["decision"] == "deny" and "other.test" in e["reason"]


def test_plain_bytes_on_intercepted_tunnel_refused(bench, pki, tls_up):
    configure(bench, pki, tls_up)
    secret_set(bench, "anthropic", STORED)
    start(bench)
    s = connect(bench, f"{HOST}:443")
    s.sendall(b"GET / HTTP/1.1\r\nHost: api.anthropic.com\r\n" + GUEST + b"\r\n")
    assert closed(s)
    assert bench.audit()[-1]["reason"] == "not TLS on an intercepted tunnel"


def test_client_distrusting_sbx_ca_is_audited(bench, pki, tls_up):
    configure(bench, pki, tls_up)
    secret_set(bench, "anthropic", STORED)
    start(bench)
    with pytest.raises(ssl.SSLError):
        tls_to(bench, up_ctx(pki))
    import time
    for _ in range(50):
        if any("trust sbx's CA" in e.get("reason", "") for e in bench.audit()):
            break
        time.sleep(0.1)
    assert any("trust sbx's CA" in e.get("reason", "") for e in bench.audit())


def test_large_download_and_websocket(bench, pki, tls_up):
    configure(bench, pki, tls_up)
    secret_set(bench, "anthropic", STORED)
    start(bench)
    t = tls_to(bench, sbx_ctx(bench))
    n = 20 * 1024 * 1024
    t.sendall(f"GET /bytes/{n} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
    t.settimeout(30)
    data = b""
    while b"\r\n\r\n" not in data:
        data += t.recv(65536)
    head, body = data.split(b"\r\n\r\n", 1)
    got = len(body)
    while got < n:
        d = t.recv(1 << 20)
        assert d
        got += len(d)
    assert got == n
    # protocol switch on the same connection: raw bytes both ways
    t.sendall(f"GET /ws HTTP/1.1\r\nHost: {HOST}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += t.recv(1)
    assert head.startswith(b"HTTP/1.1 101")
    for msg in (b"ping", b"x" * 100000):
        t.sendall(msg)
        got = b""
        while len(got) < len(msg):
            got += t.recv(65536)
        assert got == msg


def test_inspect_all(bench, pki, tls_up):
    configure(bench, pki, tls_up, proxy_inspect="all")
    start(bench, caller_env={})
    # every tunnel on 443 is terminated, but only service hosts with a credential get one
    t = tls_to(bench, sbx_ctx(bench), host="other.test")
    status, _, body = request(t, host="other.test", extra=GUEST, close=True)
    assert status == 200 and seen(body)["x-api-key"] == ["guest-fake"]
    t = tls_to(bench, sbx_ctx(bench))
    status, _, body = request(t, extra=GUEST, close=True)
    assert status == 200 and seen(body)["x-api-key"] == ["guest-fake"]
    reasons = [e.get("reason") for e in bench.audit()]
    assert "intercepted: proxy.inspect is all" in reasons and "injected anthropic" not in reasons


def test_transparent_path_never_intercepted(bench, pki, tls_up):
    configure(bench, pki, tls_up)
    secret_set(bench, "anthropic", STORED)
    bench.settings(proxy_resolve=f"{HOST}:{tls_up['tls']}=127.0.0.1:{tls_up['tls']}",
                   proxy_upstreamCA=str(pki / "ca.pem"))
    bench.start(transparent=True, orig_dst=f"127.0.0.1:{tls_up['tls']}", dns=False)
    s = socket.create_connection(("127.0.0.1", bench.port), timeout=10)
    t = up_ctx(pki).wrap_socket(s, server_hostname=HOST)
    assert issuer_cn(t) == "sbx test upstream CA"
    status, _, body = request(t, extra=GUEST, close=True)
    assert status == 200 and seen(body)["x-api-key"] == ["guest-fake"]


def test_broken_store_answers_why(bench, pki, tls_up):
    configure(bench, pki, tls_up)
    secret_set(bench, "anthropic", STORED)
    os.chmod(bench.home / "config" / "secrets.json", 0o644)
    start(bench)
    t = tls_to(bench, sbx_ctx(bench))
    status, _, body = request(t, extra=GUEST)
    assert status == 502 and b"secret store" in body and b"chmod 600" in body
    assert STORED.encode() not in body


def test_many_connections_concurrently(bench, pki, tls_up):
    configure(bench, pki, tls_up)
    secret_set(bench, "anthropic", STORED)
    start(bench)
    errors = []

    def worker(i):
        try:
            t = tls_to(bench, sbx_ctx(bench))
            for j in range(3):
                status, _, body = request(t, f"/w{i}/{j}", close=j == 2)
                assert status == 200 and seen(body)["x-api-key"] == [STORED]
        except Exception as e:   # noqa: BLE001
            errors.append(e)
    ts = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for th in ts:
        th.start()
    for th in ts:
        th.join(60)
    assert not errors, errors


@pytest.mark.parametrize("raw,status", [
    (b"GET / HTTP/1.1\nHost: api.anthropic.com\n\n", 400),                         # bare LF
    (b"GET https://api.anthropic.com/ HTTP/1.1\r\nHost: api.anthropic.com\r\n\r\n", 400),  # absolute form
    (b"GET / HTTP/1.1\r\n\r\n", 400),                                                # no Host
    (b"POST / HTTP/1.1\r\nHost: api.anthropic.com\r\nContent-Length: 3\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n", 400),                                    # smuggling shape
    (b"GET / HTTP/1.1\r\nHost: api.anthropic.com\r\nHost: evil.test\r\n\r\n", 400),  # two Hosts
    (b"GET / HTTP/1.1\r\nHost: api.anthropic.com\r\nX: " + b"a" * 70000 + b"\r\n\r\n", 400),
])
def test_malformed_requests_refused(bench, pki, tls_up, raw, status):
    configure(bench, pki, tls_up)
    secret_set(bench, "anthropic", STORED)
    start(bench)
    t = tls_to(bench, sbx_ctx(bench))
    t.sendall(raw)
    st, _, body = recv_response(t)
    assert st == status, body
    assert STORED.encode() not in body
    assert closed(t)
