# SPDX-License-Identifier: MIT
# tests/proxy/test_addresses.py: internal addresses are refused unless a rule names them;
# names resolve on the host (c-ares against a fake DNS server); host.docker.internal.
import json
import socket

from conftest import recv_response


def get(port, url):
    s = socket.create_connection(("127.0.0.1", port), timeout=15)
    s.sendall(f"GET {url} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    return recv_response(s, timeout=15)


def test_name_resolving_to_loopback_refused(bench, fake_dns, upstreams):
    bench.policy([("allow", "**")], preset="allow-all")
    bench.settings(proxy_dnsServers=f"127.0.0.1:{fake_dns.port}")
    bench.start()
    status, _, body = get(bench.port, f"http://internal.test:{upstreams['a']}/")
    assert status == 403
    assert b"internal address 127.0.0.1" in body
    assert ("internal.test", 1) in fake_dns.queries
    e = bench.audit()[-1]
    assert e["decision"] == "deny" and e["reason"] == "internal address 127.0.0.1" and e["addr"] == "127.0.0.1"
    for name in ("mixed.test", "meta.test"):
        status, _, body = get(bench.port, f"http://{name}/")
        assert status == 403 and b"internal address" in body


def test_unknown_name_is_502(bench, fake_dns):
    bench.policy([("allow", "**")], preset="allow-all")
    bench.settings(proxy_dnsServers=f"127.0.0.1:{fake_dns.port}")
    bench.start()
    status, _, body = get(bench.port, "http://nosuch.test/")
    assert status == 502 and b"cannot resolve" in body


def test_literals_refused(bench):
    bench.policy([("allow", "**")], preset="allow-all")
    bench.start()
    for url, addr in (("http://169.254.169.254/latest/meta-data/", "169.254.169.254"),
                      ("http://0x7f.1/", "127.0.0.1"),
                      ("http://2130706433/", "127.0.0.1"),
                      ("http://127.1:22/", "127.0.0.1"),
                      ("http://10.0.0.1/", "10.0.0.1"),
                      ("http://100.64.0.1/", "100.64.0.1"),
                      ("http://0.0.0.0/", "0.0.0.0"),
                      ("http://[::1]/", "::1"),
                      ("http://[::ffff:127.0.0.1]/", "127.0.0.1"),
                      ("http://[fd00::1]/", "fd00::1")):
        status, _, body = get(bench.port, url)
        assert status == 403, url
        assert f"internal address {addr}".encode() in body, (url, body)
    s = socket.create_connection(("127.0.0.1", bench.port), timeout=10)
    s.sendall(b"CONNECT 169.254.169.254:443 HTTP/1.1\r\nHost: x\r\n\r\n")
    status, _, _ = recv_response(s)
    assert status == 403


def test_explicit_ip_rule_allows(bench, upstreams):
    bench.policy([("allow", "**"), ("allow", f"127.0.0.1:{upstreams['a']}")], preset="allow-all")
    bench.start()
    status, _, body = get(bench.port, f"http://127.0.0.1:{upstreams['a']}/ip")
    assert status == 200 and json.loads(body)["server"] == "A"
    status, _, _ = get(bench.port, f"http://0x7f.0.0.1:{upstreams['a']}/ip")
    assert status == 200
    # the rule names one port only
    status, _, _ = get(bench.port, f"http://127.0.0.1:{upstreams['b']}/ip")
    assert status == 403


def test_cidr_rule_allows_resolved_name(bench, fake_dns, upstreams):
    bench.policy([("allow", "internal.test"), ("allow", "127.0.0.0/8")])
    bench.settings(proxy_dnsServers=f"127.0.0.1:{fake_dns.port}")
    bench.start()
    status, _, body = get(bench.port, f"http://internal.test:{upstreams['a']}/n")
    assert status == 200 and json.loads(body)["server"] == "A"


def test_address_deny_rule_applies_to_resolved_names(bench, fake_dns):
    bench.policy([("allow", "public.test"), ("deny", "93.184.216.0/24")])
    bench.settings(proxy_dnsServers=f"127.0.0.1:{fake_dns.port}")
    bench.start()
    status, _, body = get(bench.port, "http://public.test/")
    assert status == 403 and b"93.184.216.0/24" in body


def test_host_docker_internal(bench, upstreams):
    bench.policy([("allow", "**"), ("allow", f"localhost:{upstreams['a']}")], preset="allow-all")
    bench.start()
    for name in ("host.docker.internal", "host.sbx.internal"):
        status, _, body = get(bench.port, f"http://{name}:{upstreams['a']}/h")
        assert status == 200 and json.loads(body)["server"] == "A"
        status, _, body = get(bench.port, f"http://{name}:{upstreams['b']}/h")
        assert status == 403
    # `**` alone never reaches the host
    bench.stop()
    bench.policy([("allow", "**")], preset="allow-all")
    bench.start()
    status, _, _ = get(bench.port, f"http://host.docker.internal:{upstreams['a']}/h")
    assert status == 403


def test_proxy_resolve_may_point_at_loopback(bench, upstreams):
    bench.policy([("allow", "svc.test")])
    bench.settings(proxy_resolve=f"svc.test:80=127.0.0.1:{upstreams['b']}")
    bench.start()
    status, _, body = get(bench.port, "http://svc.test/r")
    assert status == 200 and json.loads(body)["server"] == "B"
