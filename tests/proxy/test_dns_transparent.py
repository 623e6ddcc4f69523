# SPDX-License-Identifier: MIT
# tests/proxy/test_dns_transparent.py: policy-checked DNS answers with synthetic
# addresses, and transparent connections named by SNI, Host or those answers.
import ipaddress
import json
import socket
import ssl

from conftest import closed, recv_response

SYNTH = ipaddress.ip_network("198.18.0.0/15")


def test_dns_allowed_gets_stable_synthetic(bench, fake_dns):
    bench.policy([("allow", "public.test")])
    bench.settings(proxy_dnsServers=f"127.0.0.1:{fake_dns.port}")
    bench.start()
    a = bench.dns("public.test")
    assert a["qr"] and a["rcode"] == 0 and a["id"] == 0x1234
    assert len(a["answers"]) == 1
    rtype, ttl, addr = a["answers"][0]
    assert rtype == 1 and ttl == 60 and ipaddress.ip_address(addr) in SYNTH
    assert bench.dns("Public.Test.")["answers"][0][2] == addr
    aaaa = bench.dns("public.test", qtype=28)
    assert aaaa["rcode"] == 0 and aaaa["answers"] == []
    mx = bench.dns("public.test", qtype=15)
    assert mx["rcode"] == 0 and mx["answers"] == []
    e = bench.audit()[-1]
    assert e["path"] == "dns" and e["decision"] == "allow" and e["host"] == "public.test"


def test_dns_denied_never_leaves(bench, fake_dns):
    bench.policy([("allow", "public.test")])
    bench.settings(proxy_dnsServers=f"127.0.0.1:{fake_dns.port}")
    bench.start()
    a = bench.dns("secret-data.exfil.test")
    assert a["rcode"] == 3 and a["answers"] == []
    assert not any("exfil" in q[0] for q in fake_dns.queries)
    e = bench.audit()[-1]
    assert e["path"] == "dns" and e["decision"] == "deny" and e["rule"] == "default deny"


def test_dns_internal_and_missing_names(bench, fake_dns):
    bench.policy([("allow", "**")], preset="allow-all")
    bench.settings(proxy_dnsServers=f"127.0.0.1:{fake_dns.port}")
    bench.start()
    assert bench.dns("internal.test")["rcode"] == 3
    assert "internal address 127.0.0.1" in bench.audit()[-1]["reason"]
    assert bench.dns("meta.test")["rcode"] == 3
    assert bench.dns("nosuch.test")["rcode"] == 3
    assert bench.dns("public.test")["rcode"] == 0


def test_dns_port_limited_rule_resolves(bench, fake_dns):
    bench.policy([("allow", "public.test:443"), ("deny", "other.test:80"), ("allow", "other.test")])
    bench.settings(proxy_dnsServers=f"127.0.0.1:{fake_dns.port}",
                   proxy_resolve="other.test:443=127.0.0.1:1")
    bench.start()
    assert bench.dns("public.test")["rcode"] == 0
    assert bench.dns("other.test")["rcode"] == 0


def test_dns_malformed(bench):
    bench.policy([("allow", "**")], preset="allow-all")
    bench.start()
    s = socket.create_connection(("127.0.0.1", bench.ports["dns"]), timeout=5)
    q = b"\x12\x34\x01\x00\x00\x02\x00\x00\x00\x00\x00\x00" + b"\x01a\x00\x00\x01\x00\x01" * 2
    s.sendall(len(q).to_bytes(2, "big") + q)
    data = b""
    while len(data) < 6:
        d = s.recv(1000)
        if not d:
            break
        data += d
    assert data and data[2:4] == b"\x12\x34" and data[5] & 0xF in (1, 5)   # FORMERR or REFUSED
    s = socket.create_connection(("127.0.0.1", bench.ports["dns"]), timeout=5)
    s.sendall(b"\x00\x05hello")
    assert closed(s)


def test_dns_host_alias(bench):
    bench.policy([("allow", "localhost:8080")])
    bench.start()
    assert bench.dns("host.docker.internal")["rcode"] == 0
    assert bench.dns("host.docker.internal")["answers"][0][2].startswith("198.1")
    bench.stop()
    bench.policy([("allow", "**")], preset="allow-all")
    bench.start()
    assert bench.dns("host.docker.internal")["rcode"] == 3


# ---------------------------------------------------------------- transparent

def tp_connect(bench, dst, port):
    s = socket.create_connection(("127.0.0.1", bench.port), timeout=10)
    s.sendall(f"PROXY TCP4 10.0.2.15 {dst} 40000 {port}\r\n".encode())
    return s


def test_transparent_maps_synthetic_address_back(bench, upstreams):
    # bytes that are neither TLS nor HTTP: relayed only because the rule names the port
    bench.policy([("allow", f"echo.test:{upstreams['echo']}")])
    bench.settings(proxy_resolve=f"echo.test:{upstreams['echo']}=127.0.0.1:{upstreams['echo']}")
    bench.start(transparent=True)
    addr = bench.dns("echo.test")["answers"][0][2]
    s = tp_connect(bench, addr, upstreams["echo"])
    s.sendall(b"\x00\x01binary, neither TLS nor HTTP")
    got = b""
    while len(got) < 29:
        got += s.recv(100)
    assert got == b"\x00\x01binary, neither TLS nor HTTP"
    e = bench.audit()[-1]
    assert e["path"] == "transparent" and e["host"] == "echo.test" and e["decision"] == "allow"
    assert e["addr"] == "127.0.0.1"


def test_transparent_server_first_protocol(bench, upstreams):
    """No client bytes: a synthetic address still names the destination (after ~1 s);
    a raw tunnel needs a rule naming the port."""
    bench.policy([("allow", f"echo.test:{upstreams['echo']}")])
    bench.settings(proxy_resolve=f"echo.test:{upstreams['echo']}=127.0.0.1:{upstreams['echo']}")
    bench.start(transparent=True)
    addr = bench.dns("echo.test")["answers"][0][2]
    s = tp_connect(bench, addr, upstreams["echo"])
    import time
    time.sleep(1.5)
    s.sendall(b"late")
    assert s.recv(10) == b"late"


def test_transparent_no_name_denied(bench, upstreams):
    bench.policy([("allow", "**")], preset="allow-all")
    bench.start(transparent=True)
    s = tp_connect(bench, "203.0.113.7", upstreams["echo"])
    s.sendall(b"\x00raw")
    assert closed(s)
    e = bench.audit()[-1]
    assert e["decision"] == "deny" and e["reason"] == "no name for 203.0.113.7"


def test_transparent_http_host_header(bench, upstreams):
    bench.policy([("allow", "a.test")])
    bench.settings(proxy_resolve=f"a.test:{upstreams['a']}=127.0.0.1:{upstreams['a']}")
    bench.start(transparent=True)
    # the guest dialled some address; the Host header names the destination
    s = tp_connect(bench, "203.0.113.9", upstreams["a"])
    s.sendall(f"GET /t HTTP/1.1\r\nHost: a.test:{upstreams['a']}\r\n\r\n".encode())
    status, _, body = recv_response(s)
    assert status == 200 and json.loads(body)["path"] == "/t"
    s.sendall(b"GET /t2 HTTP/1.1\r\nHost: a.test\r\n\r\n")
    status, _, body = recv_response(s)
    assert status == 200 and json.loads(body)["path"] == "/t2"
    # every request on the connection is checked and audited, not only the first
    seen = [(e["method"], e["url_path"], e["status"]) for e in bench.audit() if e.get("method")]
    assert seen == [("GET", "/t", 200), ("GET", "/t2", 200)], seen
    assert all(e["path"] == "transparent" and e["host"] == "a.test" for e in bench.audit())
    # denied Host: 403 text
    s = tp_connect(bench, "203.0.113.9", 80)
    s.sendall(b"GET / HTTP/1.1\r\nHost: denied.test\r\n\r\n")
    status, _, body = recv_response(s)
    assert status == 403 and b"denied.test:80" in body


def test_transparent_tls_sni(bench, upstreams, certs):
    bench.policy([("allow", "secure.test")])
    bench.settings(proxy_resolve=f"secure.test:{upstreams['tls']}=127.0.0.1:{upstreams['tls']}")
    bench.start(transparent=True)
    s = tp_connect(bench, "203.0.113.10", upstreams["tls"])
    ctx = ssl.create_default_context(cafile=str(certs / "cert.pem"))
    t = ctx.wrap_socket(s, server_hostname="secure.test")
    t.sendall(b"GET /sni HTTP/1.1\r\nHost: secure.test\r\nConnection: close\r\n\r\n")
    status, _, body = recv_response(t)
    assert status == 200 and json.loads(body)["path"] == "/sni"
    # an SNI the policy denies: the connection is reset
    s = tp_connect(bench, "203.0.113.10", upstreams["tls"])
    ctx.check_hostname = False
    try:
        t = ctx.wrap_socket(s, server_hostname="other.test")
        assert not t.recv(10)
    except (ssl.SSLError, OSError):
        pass
    assert bench.audit()[-1]["host"] == "other.test"
    assert bench.audit()[-1]["decision"] == "deny"


def test_transparent_fixed_orig_dst(bench, upstreams):
    bench.policy([("allow", "a.test")])
    bench.settings(proxy_resolve=f"a.test:{upstreams['a']}=127.0.0.1:{upstreams['a']}")
    bench.start(transparent=True, orig_dst=f"203.0.113.1:{upstreams['a']}")
    s = socket.create_connection(("127.0.0.1", bench.port), timeout=10)
    s.sendall(b"GET /fixed HTTP/1.1\r\nHost: a.test\r\n\r\n")
    status, _, body = recv_response(s)
    assert status == 200


def test_dns_upstream_silent_servfail(bench):
    """A resolver that never answers: SERVFAIL after c-ares gives up, never a hang."""
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    try:
        bench.policy([("allow", "**")], preset="allow-all")
        bench.settings(proxy_dnsServers=f"127.0.0.1:{silent.getsockname()[1]}")
        bench.start()
        import time
        t = time.time()
        a = bench.dns("slow.test", timeout=30)
        assert a["rcode"] == 2
        assert time.time() - t < 16
    finally:
        silent.close()
