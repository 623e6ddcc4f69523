# SPDX-License-Identifier: MIT
"""Credential injection from inside real VMs: the upstream (a fake api.anthropic.com on
loopback, trusted through proxy.upstreamCA) receives the stored key; the guest only ever
sees the sentinel, and the key is nowhere in the VM or its disk."""

import http.server
import json
import socketserver
import ssl
import subprocess
import threading
import time

import pytest

from conftest import Box, new_home

KEY = "sk-ant-test-" + "7f3c9a1e5d2b4c6a8e0f1a2b3c4d5e6f"


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        # Record what arrived; answer without echoing any header back.
        self.server.seen.append({k.lower(): v for k, v in self.headers.items()})
        body = json.dumps({"ok": True, "path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, *a):
        pass


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def _tls_server(d, name):
    subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(d / f"{name}.key"), "-out", str(d / f"{name}.csr"), "-subj", f"/CN={name}"],
                   check=True, capture_output=True)
    (d / f"{name}.ext").write_text(f"subjectAltName=DNS:{name}\n")
    subprocess.run(["openssl", "x509", "-req", "-in", str(d / f"{name}.csr"), "-CA", str(d / "ca.pem"),
                    "-CAkey", str(d / "ca.key"), "-CAcreateserial", "-days", "2", "-out", str(d / f"{name}.pem"),
                    "-extfile", str(d / f"{name}.ext")], check=True, capture_output=True)
    srv = _Server(("127.0.0.1", 0), _Handler)
    srv.seen = []
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(d / f"{name}.pem", d / f"{name}.key")
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def upstream_ca(d):
    """A test CA in d (ca.pem, ca.key) that _tls_server signs with."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(d / "ca.key"), "-out", str(d / "ca.pem"), "-days", "2",
                    "-subj", "/CN=sbx test upstream CA"], check=True, capture_output=True)


@pytest.fixture(scope="module")
def cred(tmp_path_factory):
    d = tmp_path_factory.mktemp("upca")
    upstream_ca(d)
    api = _tls_server(d, "api.anthropic.com")
    other = _tls_server(d, "other.test")
    oai = _tls_server(d, "api.openai.com")
    h = new_home("cred")
    h.ok("policy", "allow", "network", "other.test")
    h.ok("settings", "set", "proxy.upstreamCA", str(d / "ca.pem"))
    h.ok("settings", "set", "proxy.resolve",
         f"api.anthropic.com:443=127.0.0.1:{api.server_address[1]},other.test:443=127.0.0.1:{other.server_address[1]},"
         f"api.openai.com:443=127.0.0.1:{oai.server_address[1]}")
    r = h.sbx("secret", "set", "-g", "anthropic", input=(KEY + "\n").encode())
    assert r.rc == 0, r
    ws = h.workspace("credws")
    h.ok("run", "-d", "--name", "credbox", "shell", ws, timeout=300)
    box = Box(h, "credbox", ws)
    box.oai = oai
    yield box, api, other, d
    for srv in (api, other, oai):
        srv.shutdown()


def test_guest_sees_only_the_sentinel(cred):
    box, *_ = cred
    assert box.ok("printenv", "ANTHROPIC_API_KEY").out.strip() == "proxy-managed"


def test_upstream_receives_the_stored_key_and_not_the_guests(cred):
    box, api, _, _ = cred
    n = len(api.seen)
    r = box.ok("curl", "-sS", "-m", "30", "-H", "x-api-key: guest-fake", "-H", "Authorization: Bearer guest-token",
               "https://api.anthropic.com/v1/messages")
    assert '"ok": true' in r.out, r
    seen = api.seen[n:]
    assert seen and seen[-1].get("x-api-key") == KEY, seen
    assert "authorization" not in seen[-1], seen
    assert KEY not in r.out and KEY not in r.err
    log = (box.home.state_dir / "audit.log").read_text()
    assert KEY not in log and "anthropic" in log


def test_keep_alive_requests_are_each_injected(cred):
    box, api, _, _ = cred
    n = len(api.seen)
    box.ok("curl", "-sS", "-m", "30", "https://api.anthropic.com/a", "https://api.anthropic.com/b")
    seen = api.seen[n:]
    assert len(seen) == 2 and all(s.get("x-api-key") == KEY for s in seen), seen


def test_host_differing_from_connect_host_is_refused(cred):
    box, api, _, _ = cred
    n = len(api.seen)
    r = box.exec("curl", "-sS", "-m", "30", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: other.test",
                 "https://api.anthropic.com/x")
    assert r.out.strip() == "421", r
    assert len(api.seen) == n


def test_other_allowed_host_gets_no_key_and_its_own_certificate(cred):
    box, _, other, d = cred
    n = len(other.seen)
    # The guest does not trust the test CA: -k, but check who issued the certificate.
    r = box.ok("sh", "-c", "curl -sS -k -m 30 https://other.test/ >/dev/null && echo | openssl s_client "
               "-connect other.test:443 -proxy 127.0.0.1:3128 -servername other.test 2>/dev/null | "
               "openssl x509 -noout -issuer")
    assert "sbx test upstream CA" in r.out, r
    assert other.seen[n:] and all("x-api-key" not in s for s in other.seen[n:]), other.seen[n:]


def test_caller_environment_key_used_when_nothing_is_stored(cred):
    """`sbx run` hands the daemon the caller's OPENAI_API_KEY (nothing is stored for
    openai): the upstream gets it as a Bearer token, the guest sees the sentinel, and the
    value is in no log."""
    box, *_ = cred
    h, oai = box.home, box.oai
    envkey = "sk-proj-caller-env-" + "5e0c1d2a3b4f69788a9b0c1d"
    ws = h.workspace("envws")
    h.ok("run", "-d", "--name", "envbox", "shell", ws, timeout=300, env={"OPENAI_API_KEY": envkey})
    try:
        eb = Box(h, "envbox", ws)
        assert eb.ok("printenv", "OPENAI_API_KEY").out.strip() == "proxy-managed"
        n = len(oai.seen)
        r = eb.ok("curl", "-sS", "-m", "30", "-H", "Authorization: Bearer guest-token",
                  "https://api.openai.com/v1/models")
        assert '"ok": true' in r.out, r
        assert oai.seen[n:] and oai.seen[-1].get("authorization") == f"Bearer {envkey}", oai.seen[n:]
        for f in (h.state_dir / "audit.log", h.state_dir / "sbxd.log"):
            if f.exists():
                assert envkey not in f.read_text(errors="replace"), f
    finally:
        h.sbx("rm", "-f", "envbox", timeout=120)


def test_key_is_nowhere_in_the_guest_or_its_disk(cred):
    box, *_ = cred
    needle = KEY[-16:]
    r = box.exec("sh", "-c", f"cat /proc/cmdline /proc/[0-9]*/environ 2>/dev/null | grep -c {needle}; "
                 f"grep -rls {needle} /etc /home /root /tmp /run /var /usr/local 2>/dev/null | head; true",
                 opts=["-u", "root"], timeout=300)
    assert r.out.split()[0] == "0" and len(r.out.split()) == 1, r
    box.home.ok("stop", box.name, timeout=120)
    disk = box.home.sandbox_dir(box.name) / "disk.qcow2"
    assert needle.encode() not in disk.read_bytes()
    box.home.ok("run", "-d", "--name", box.name, "shell", box.ws, timeout=300)
