# SPDX-License-Identifier: MIT
"""Egress from inside real VMs: forward proxy, CONNECT, DNS, transparent capture,
blocked destinations, the audit log, and the real package mirrors.

Fake upstreams listen on the host's loopback and are reached by name through the
trusted host-side setting proxy.resolve; the guest never learns their addresses.
"""

import http.server
import json
import socketserver
import ssl
import subprocess
import threading
import time

import pytest

from conftest import Box, http_reply, new_home

BODY = "hello from the fake upstream\n"


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.seen.append((self.command, self.path, self.headers.get("Host")))
        http_reply(self, (BODY + f"path={self.path}\n").encode())

    def log_message(self, *a):
        pass


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def _serve(tls_dir=None):
    srv = _Server(("127.0.0.1", 0), _Handler)
    srv.seen = []
    if tls_dir:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(tls_dir / "cert.pem", tls_dir / "key.pem")
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    return srv


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    """A sandbox whose policy allows good.test (fake upstreams) but not evil.test."""
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem"), "-days", "2",
                    "-subj", "/CN=good.test", "-addext", "subjectAltName=DNS:good.test"],
                   check=True, capture_output=True)
    plain, tls = _serve(), _serve(d)
    h = new_home("net")
    pp, tp = plain.server_address[1], tls.server_address[1]
    h.ok("policy", "allow", "network", "good.test")
    h.ok("settings", "set", "proxy.resolve",
         f"good.test:80=127.0.0.1:{pp},good.test:443=127.0.0.1:{tp},evil.test:80=127.0.0.1:{pp}")
    ws = h.workspace("netws")
    h.ok("run", "-d", "--name", "netbox", "shell", ws, timeout=300)
    yield Box(h, "netbox", ws), plain
    plain.shutdown()
    tls.shutdown()


def audit(home):
    p = home.state_dir / "audit.log"
    if not p.exists():
        return []
    return [json.loads(l) for l in p.read_text().splitlines() if l.strip()]


def wait_audit(home, pred, timeout=5):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if any(pred(e) for e in audit(home)):
            return True
        time.sleep(0.1)
    return False


def test_proxy_variables_point_at_the_guest_listener(net):
    box, _ = net
    out = box.ok("sh", "-c", 'echo "$HTTP_PROXY $https_proxy $NO_PROXY"').out.split()
    assert out == ["http://127.0.0.1:3128", "http://127.0.0.1:3128", "localhost,127.0.0.1,::1"], out


def test_forward_allowed(net):
    box, srv = net
    r = box.ok("curl", "-sS", "-m", "20", "http://good.test/fwd")
    assert BODY in r.out and "path=/fwd" in r.out, r
    assert ("GET", "/fwd", "good.test") in srv.seen
    assert wait_audit(box.home, lambda e: e.get("path") == "forward" and e.get("host") == "good.test"
                      and e.get("decision") == "allow" and e.get("method") == "GET")


def test_forward_denied_gets_403_naming_the_rule(net):
    box, srv = net
    before = len(srv.seen)
    r = box.exec("curl", "-sS", "-m", "20", "-w", "\\n%{http_code}", "http://evil.test/x")
    assert r.out.strip().endswith("403"), r
    assert "evil.test:80" in r.out and "sbx policy allow network evil.test" in r.out, r
    assert len(srv.seen) == before, "a denied request must never reach the upstream"
    assert wait_audit(box.home, lambda e: e.get("host") == "evil.test" and e.get("decision") == "deny")


def test_connect_tunnel_is_end_to_end_tls(net):
    box, _ = net
    # The upstream's own self-signed certificate reaches the guest (no interception).
    r = box.ok("sh", "-c", "curl -sS -m 20 -k -w '\\n%{http_code}' https://good.test/tls && "
               "echo | openssl s_client -connect good.test:443 -proxy 127.0.0.1:3128 -servername good.test "
               "2>/dev/null | openssl x509 -noout -subject")
    assert BODY in r.out and "path=/tls" in r.out and "CN = good.test" in r.out, r


def test_sni_must_match_connect_host(net):
    box, _ = net
    r = box.exec("sh", "-c", "echo | timeout 20 openssl s_client -connect good.test:443 -proxy 127.0.0.1:3128 "
                 "-servername evil.test 2>&1 | head -5")
    assert "CN = good.test" not in r.out and "BEGIN CERTIFICATE" not in r.out, r


def test_dns_answers_allowed_names_only(net):
    box, _ = net
    r = box.ok("getent", "ahostsv4", "good.test")
    addr = r.out.split()[0]
    a, b = (int(x) for x in addr.split(".")[:2])
    assert (a, b) in ((198, 18), (198, 19)), r   # synthetic, never the real address
    r = box.exec("getent", "hosts", "evil.test")
    assert r.rc != 0 and not r.out.strip(), r
    assert wait_audit(box.home, lambda e: e.get("path") == "dns" and e.get("host") == "evil.test"
                      and e.get("decision") == "deny")


def test_transparent_capture_of_a_client_ignoring_proxy_variables(net):
    box, srv = net
    r = box.ok("curl", "-sS", "-m", "20", "--noproxy", "*", "http://good.test/transparent")
    assert "path=/transparent" in r.out, r
    script = ("import socket\n"
              "s = socket.create_connection(('good.test', 80), timeout=20)\n"
              "s.sendall(b'GET /raw HTTP/1.0\\r\\nHost: good.test\\r\\n\\r\\n')\n"
              "d = b''\n"
              "while True:\n"
              "    c = s.recv(4096)\n"
              "    if not c: break\n"
              "    d += c\n"
              "print(d.decode())\n")
    r = box.ok("env", "-u", "HTTP_PROXY", "-u", "http_proxy", "python3", "-c", script)
    assert "path=/raw" in r.out, r
    assert wait_audit(box.home, lambda e: e.get("path") == "transparent" and e.get("host") == "good.test")


def test_transparent_to_denied_or_unnamed_destinations_fails_fast(net):
    box, _ = net
    t = time.time()
    r = box.exec("sh", "-c", "curl -sS -m 20 --noproxy '*' http://evil.test/ ; "
                 "curl -sS -m 20 --noproxy '*' http://169.254.169.254/latest ; "
                 "curl -sS -m 20 --noproxy '*' http://10.1.2.3/ ; echo done")
    assert "done" in r.out and time.time() - t < 15, r
    assert BODY not in r.out, r


def test_udp_and_icmp_go_nowhere(net):
    box, _ = net
    script = ("import socket, time\n"
              "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)\n"
              "t = time.time()\n"
              "try:\n"
              "    s.sendto(b'x' * 32, ('8.8.8.8', 53)); s.recvfrom(100); print('GOT-ANSWER')\n"
              "except OSError as e:\n"
              "    print('blocked', type(e).__name__)\n")
    r = box.ok("python3", "-c", script)
    assert "blocked" in r.out and "GOT-ANSWER" not in r.out, r
    r = box.exec("sh", "-c", "ping -c1 -W2 1.1.1.1 2>&1 || echo ping-failed", opts=["-u", "root"])
    assert "ping-failed" in r.out or "not found" in r.out, r


def test_policy_changes_apply_to_running_sandbox(net):
    box, _ = net
    h = box.home
    h.ok("policy", "deny", "network", "good.test")
    try:
        time.sleep(1.5)
        r = box.exec("curl", "-sS", "-m", "20", "-w", "\\n%{http_code}", "http://good.test/after-deny")
        assert r.out.strip().endswith("403"), r
    finally:
        h.ok("policy", "rm", "network", "--id", _rule_id(h, "deny", "good.test"))
    time.sleep(1.5)
    r = box.ok("curl", "-sS", "-m", "20", "http://good.test/after-rm")
    assert "path=/after-rm" in r.out, r


def _rule_id(h, action, resource):
    rules = json.loads(h.ok("policy", "ls", "--json").out)
    for r in rules:
        if r.get("action") == action and r.get("resource") == resource:
            return str(r["id"])
    raise AssertionError(rules)


def test_policy_log_shows_decisions(net):
    box, _ = net
    r = box.home.ok("policy", "log", "netbox")
    assert "evil.test" in r.out and "good.test" in r.out, r
    r = box.home.ok("policy", "log", "--json")
    assert isinstance(json.loads(r.out), (list, dict)), r


def test_real_world_mirrors_through_the_proxy(net):
    """This machine reaches Debian's mirror and the npm registry; the balanced preset allows both."""
    box, _ = net
    r = box.exec("sh", "-c", "apt-get update 2>&1 | tail -3", opts=["-u", "root"], timeout=300)
    assert r.rc == 0 and "Reading package lists" in r.out and "Err" not in r.out, r
    r = box.ok("curl", "-sS", "-m", "60", "-o", "/dev/null", "-w", "%{http_code}",
               "https://registry.npmjs.org/is-number", timeout=120)
    assert r.out.strip() == "200", r


# What the in-VM plumbing consists of: the capture rules, sbx0's state and addresses,
# the default routes (without what differs per boot: the MAC, link-local addresses).
PLUMBING = ("nft list ruleset; ip -o -4 addr show sbx0; ip -o -6 addr show sbx0 scope global; "
            "ip -o link show sbx0 | grep -o 'state [A-Z]*'; ip -4 route; ip -6 route show default")


def test_plumbing_over_netlink_is_what_ip_and_nft_make(net, fresh):
    """sbx-guest makes sbx0 and the capture rules itself over netlink (egress_nl.c); the
    `ip` and `nft` tools it falls back to (forced by the sbx.egresstools=1 test switch)
    make exactly the same, and the default boot did not need them."""
    box, _ = net
    ours = box.exec("sh", "-c", PLUMBING, opts=["-u", "root"])
    assert ours.rc == 0 and "redirect to :3129" in ours.out and "192.0.0.8/32" in ours.out, ours
    ws = fresh.workspace("toolsws")
    fresh.ok("run", "-d", "--name", "tools", "shell", ws, env={"SBX_GUEST_CMDLINE": "sbx.egresstools=1"},
             timeout=300)
    theirs = fresh.ok("exec", "-u", "root", "tools", "sh", "-c", PLUMBING)
    assert ours.out == theirs.out, (ours.out, theirs.out)
    console = (box.home.state_dir / "sandboxes" / box.name / "console.log").read_text(errors="replace")
    assert "using ip and nft" not in console, console[-2000:]
