# SPDX-License-Identifier: MIT
# tests/proxy/test_addresses.py: internal addresses are refused unless a rule names them;
# names resolve on the host (c-ares against a fake DNS server); host.docker.internal.
import ctypes
import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from conftest import EchoHandler, FakeDNS, _Server, recv_response


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


def test_explicit_ip_rule_does_not_open_the_host(bench, upstreams):
    # an IP or CIDR rule opens internal addresses elsewhere (test_host_addresses_refused),
    # never the host's own: its loopback is reached only as host.docker.internal
    bench.policy([("allow", "**"), ("allow", f"127.0.0.1:{upstreams['a']}")], preset="allow-all")
    bench.start()
    for url in (f"http://127.0.0.1:{upstreams['a']}/ip", f"http://0x7f.0.0.1:{upstreams['a']}/ip"):
        status, _, body = get(bench.port, url)
        assert status == 403 and b"host address 127.0.0.1" in body, (url, body)


def test_cidr_rule_does_not_open_the_host_to_a_resolved_name(bench, fake_dns, upstreams):
    bench.policy([("allow", "internal.test"), ("allow", "127.0.0.0/8")])
    bench.settings(proxy_dnsServers=f"127.0.0.1:{fake_dns.port}")
    bench.start()
    status, _, body = get(bench.port, f"http://internal.test:{upstreams['a']}/n")
    assert status == 403 and b"host address 127.0.0.1" in body
    assert bench.audit()[-1]["reason"] == "host address 127.0.0.1"


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


# ---------------------------------------------------------------- the host's own addresses

_libc = ctypes.CDLL(None, use_errno=True)
_CLONE_NEWNET = 0x40000000


def _ip(*cmds):
    for c in cmds:
        subprocess.run(c, shell=True, check=True, capture_output=True)


@pytest.fixture
def host_netns(tmp_path):
    """This test thread in a network namespace of its own, as a host with addresses:
    veth sbxt0 with 192.0.2.77/24 (a public-class address) and 10.77.0.1/16 and
    2001:db8:77::1/64, a local route 203.0.113.0/24 (AnyIP), and a second namespace
    behind sbxt1 (10.77.0.2, 2001:db8:77::2) that is not the host: `peer` there serves
    HTTP on port 8077. Threads and processes started from here inherit the namespace."""
    if os.geteuid() != 0:
        pytest.skip("needs root for network namespaces")
    orig = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    if _libc.unshare(_CLONE_NEWNET) != 0:
        os.close(orig)
        pytest.skip("unshare(CLONE_NEWNET): " + os.strerror(ctypes.get_errno()))
    peer = None
    try:
        _ip("ip link set lo up",
            "ip link add sbxt0 type veth peer name sbxt1",
            "sysctl -qw net.ipv6.conf.all.forwarding=1",
            "ip addr add 192.0.2.77/24 dev sbxt0", "ip addr add 10.77.0.1/16 dev sbxt0",
            "ip -6 addr add 2001:db8:77::1/64 dev sbxt0 nodad",
            "ip link set sbxt0 up", "ip route add local 203.0.113.0/24 dev lo")
        peer = subprocess.Popen(["unshare", "-n", "sleep", "120"])
        time.sleep(0.2)
        ns = f"nsenter -t {peer.pid} -n"
        _ip(f"ip link set sbxt1 netns {peer.pid}", f"{ns} ip link set lo up",
            f"{ns} ip addr add 10.77.0.2/16 dev sbxt1", f"{ns} ip -6 addr add 2001:db8:77::2/64 dev sbxt1 nodad",
            f"{ns} ip link set sbxt1 up")
        srv = subprocess.Popen(f"{ns} {sys.executable} -m http.server --bind :: 8077".split(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path)
        try:
            for _ in range(100):   # until the peer answers
                if subprocess.run(f"{ns} {sys.executable} -c".split() + [
                        "import socket; socket.create_connection(('10.77.0.2', 8077), 1)"],
                        capture_output=True).returncode == 0:
                    break
                time.sleep(0.1)
            yield
        finally:
            srv.kill()
            srv.wait()
    finally:
        if peer:
            peer.kill()
            peer.wait()
        _libc.setns(orig, _CLONE_NEWNET)
        os.close(orig)


class _DualStack(_Server):
    address_family = socket.AF_INET6


def _serve_everywhere(name):
    """An HTTP server on [::] (every v4 and v6 address of this namespace's host)."""
    srv = _DualStack(("::", 0), EchoHandler)
    srv.name = name
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def _connect(port, target):
    s = socket.create_connection(("127.0.0.1", port), timeout=15)
    s.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
    return recv_response(s, timeout=15)


def test_host_addresses_refused(host_netns, bench):
    srv = _serve_everywhere("HOST")
    port = srv.server_address[1]
    dns = FakeDNS({"hostip.test": "192.0.2.77", "peer.test": "10.77.0.2"})
    try:
        bench.policy([("allow", "**"), ("allow", "10.0.0.0/8"), ("allow", "2001:db8::/32")], preset="allow-all")
        bench.settings(proxy_dnsServers=f"127.0.0.1:{dns.port}")
        bench.start()
        # an address that is not the host's, opened by the CIDR rule: reached
        status, _, _ = get(bench.port, "http://10.77.0.2:8077/")
        assert status == 200
        status, _, _ = get(bench.port, "http://peer.test:8077/")
        assert status == 200
        status, _, _ = get(bench.port, "http://[2001:db8:77::2]:8077/")
        assert status == 200
        # the host's own, whatever the rules (allow-all, a CIDR naming it)
        for host, addr in (("192.0.2.77", "192.0.2.77"), ("10.77.0.1", "10.77.0.1"),
                           ("192.0.2.255", "192.0.2.255"), ("203.0.113.45", "203.0.113.45"),
                           ("[::ffff:192.0.2.77]", "192.0.2.77"), ("[2001:db8:77::1]", "2001:db8:77::1"),
                           ("[2001:db8:77::]", "2001:db8:77::"), ("[::ffff:c000:24d]", "192.0.2.77"),
                           ("hostip.test", "192.0.2.77")):
            status, _, body = get(bench.port, f"http://{host}:{port}/")
            assert status == 403 and f"host address {addr}".encode() in body, (host, status, body)
            e = bench.audit()[-1]
            assert e["decision"] == "deny" and e["reason"] == f"host address {addr}", (host, e)
            status, _, _ = _connect(bench.port, f"{host}:{port}")
            assert status == 403, host
        assert b"localhost:PORT" in body
        # the DNS path: a name whose address is the host's gets no answer
        assert bench.dns("hostip.test")["rcode"] == 3
        e = bench.audit()[-1]
        assert e["path"] == "dns" and e["decision"] == "deny" and e["reason"] == "host address 192.0.2.77", e
        assert bench.dns("peer.test")["rcode"] == 0
        # an address added while the engine runs counts at once
        _ip("ip addr add 198.51.100.7/32 dev sbxt0")
        status, _, body = get(bench.port, f"http://198.51.100.7:{port}/")
        assert status == 403 and b"host address 198.51.100.7" in body
        bench.stop()

        # the transparent path: the name (Host, SNI) decides, then the same check
        bench.start(transparent=True, orig_dst=f"192.0.2.77:{port}")
        for host in ("192.0.2.77", "hostip.test", "10.77.0.1"):
            s = socket.create_connection(("127.0.0.1", bench.port), timeout=15)
            s.sendall(f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
            status, _, body = recv_response(s, timeout=15)
            assert status == 403 and b"host address" in body, (host, body)
            e = bench.audit()[-1]
            assert e["path"] == "transparent" and e["decision"] == "deny", e
            assert e["reason"].startswith("host address "), e
    finally:
        dns.close()
        srv.shutdown()
        srv.server_close()


def test_localhost_rule_opens_only_host_docker_internal(host_netns, bench):
    # localhost:PORT: that port of the host's 127.0.0.1, by the names host.docker.internal
    # and host.sbx.internal only; not 127/8, [::1], the name localhost or another address
    srv = _serve_everywhere("HOST")
    port = srv.server_address[1]
    try:
        bench.policy([("allow", "**"), ("allow", f"localhost:{port}")], preset="allow-all")
        bench.start()
        for name in ("host.docker.internal", "host.sbx.internal"):
            status, _, body = get(bench.port, f"http://{name}:{port}/")
            assert status == 200 and json.loads(body)["server"] == "HOST"
        for host in ("127.0.0.1", "127.0.0.2", "[::1]", "localhost", "[::ffff:127.0.0.1]", "192.0.2.77",
                     "0.0.0.0"):
            status, _, body = get(bench.port, f"http://{host}:{port}/")
            assert status == 403, (host, status, body)
            status, _, _ = _connect(bench.port, f"{host}:{port}")
            assert status == 403, host
    finally:
        srv.shutdown()
        srv.server_close()
