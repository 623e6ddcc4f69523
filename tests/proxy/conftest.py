# SPDX-License-Identifier: MIT
# tests/proxy/conftest.py: the egress engine without a VM: `sbx proxy-bench` on loopback,
# fake upstream HTTP/HTTPS/TCP-echo/DNS servers on 127.0.0.1, policy and settings files.
import json
import os
import shutil
import socket
import socketserver
import ssl
import struct
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SBX = Path(os.environ.get("SBX_BIN", REPO / "build" / "sbx"))

# Never the developer's own keyring: with secrets.backend=auto the first `sbx secret set`
# stores in the Secret Service when one answers on the session bus. The tests that want
# one (test_secret_service.py) start a private bus and point this variable at it.
os.environ["DBUS_SESSION_BUS_ADDRESS"] = "unix:path=/nonexistent/sbx-proxy-tests-no-session-bus"


# ---------------------------------------------------------------- fake upstreams

class EchoHandler(BaseHTTPRequestHandler):
    """Answers every request with JSON describing it (keep-alive, HTTP/1.1).
    /bytes/N sends N bytes; /ws switches protocols and echoes raw bytes."""
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _reply(self, code, body, ctype="application/json", extra=()):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _handle(self):
        body = b""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    break
                body += self.rfile.read(size)
                self.rfile.readline()
        elif self.headers.get("Content-Length"):
            body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path.startswith("/bytes/"):
            n = int(self.path.split("/")[2])
            self.send_response(200)
            self.send_header("Content-Length", str(n))
            self.end_headers()
            chunk = b"x" * 65536
            while n > 0:
                k = min(n, len(chunk))
                self.wfile.write(chunk[:k])
                n -= k
            return
        if self.path == "/ws":
            self.send_response(101)
            self.send_header("Upgrade", "websocket")
            self.send_header("Connection", "Upgrade")
            self.end_headers()
            self.wfile.flush()
            while True:
                data = self.connection.recv(65536)
                if not data:
                    break
                self.connection.sendall(data)
            self.close_connection = True
            return
        info = {
            "server": self.server.name,
            "method": self.command,
            "path": self.path,
            "version": self.request_version,
            "headers": [[k, v] for k, v in self.headers.items()],
            "body_len": len(body),
            "body_sha": __import__("hashlib").sha256(body).hexdigest(),
            # TLS upstreams: whether the client resumed a session (no certificate sent)
            "resumed": bool(getattr(self.connection, "session_reused", False)),
        }
        self._reply(200, json.dumps(info).encode())

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _handle


# socketserver listens with a backlog of 5: a burst of connections (test_bounds opens 96
# at once) overflows the accept queue, and the connections the kernel completed with SYN
# cookies then wait for retransmissions that back off to tens of seconds.
UPSTREAM_BACKLOG = 1024


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = UPSTREAM_BACKLOG


def start_http(name, tls_ctx=None):
    srv = _Server(("127.0.0.1", 0), EchoHandler)
    srv.name = name
    if tls_ctx:
        srv.socket = tls_ctx.wrap_socket(srv.socket, server_side=True)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    return srv


class EchoTCP(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = UPSTREAM_BACKLOG


class _EchoTCPHandler(socketserver.BaseRequestHandler):
    def handle(self):
        while True:
            d = self.request.recv(65536)
            if not d:
                return
            self.request.sendall(d)


def start_tcp_echo():
    srv = EchoTCP(("127.0.0.1", 0), _EchoTCPHandler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def dns_name(msg, off):
    labels = []
    while True:
        n = msg[off]
        off += 1
        if n == 0:
            return ".".join(labels), off
        labels.append(msg[off:off + n].decode())
        off += n


def dns_query(name, qtype=1, qid=0x1234):
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\0" + struct.pack(">HH", qtype, 1)


def dns_parse_answer(msg):
    qid, flags, qd, an, ns, ar = struct.unpack(">HHHHHH", msg[:12])
    off = 12
    for _ in range(qd):
        _, off = dns_name(msg, off)
        off += 4
    answers = []
    for _ in range(an):
        if msg[off] & 0xC0 == 0xC0:
            off += 2
        else:
            _, off = dns_name(msg, off)
        rtype, rclass, ttl, rdlen = struct.unpack(">HHIH", msg[off:off + 10])
        off += 10
        rdata = msg[off:off + rdlen]
        off += rdlen
        answers.append((rtype, ttl, socket.inet_ntoa(rdata) if rtype == 1 else rdata))
    return {"id": qid, "rcode": flags & 0xF, "qr": bool(flags & 0x8000), "answers": answers}


class FakeDNS:
    """UDP DNS server: names -> IPv4 (A only); other names NXDOMAIN. Records queries."""

    def __init__(self, records):
        self.records = records
        self.queries = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.stop = False
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while not self.stop:
            try:
                msg, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            try:
                qid, flags = struct.unpack(">HH", msg[:4])
                name, off = dns_name(msg, 12)
                qtype, = struct.unpack(">H", msg[off:off + 2])
            except Exception:
                continue
            self.queries.append((name.lower(), qtype))
            question = msg[12:off + 4]
            ip = self.records.get(name.lower())
            if ip is None:
                resp = struct.pack(">HHHHHH", qid, 0x8183, 1, 0, 0, 0) + question
            elif qtype == 1:
                resp = (struct.pack(">HHHHHH", qid, 0x8180, 1, 1, 0, 0) + question +
                        b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 30, 4) + socket.inet_aton(ip))
            else:
                resp = struct.pack(">HHHHHH", qid, 0x8180, 1, 0, 0, 0) + question
            self.sock.sendto(resp, peer)

    def close(self):
        self.stop = True
        self.sock.close()


# ---------------------------------------------------------------- engine harness

class Bench:
    """One `sbx proxy-bench` process in its own SBX_HOME."""

    def __init__(self, home, sandbox="sb1"):
        self.home = Path(home)
        self.sandbox = sandbox
        self.proc = None
        self.ports = {}
        (self.home / "config").mkdir(parents=True, exist_ok=True, mode=0o700)
        (self.home / "state").mkdir(parents=True, exist_ok=True, mode=0o700)

    def policy(self, rules, preset="deny-all"):
        """rules: list of (action, resource) or (action, resource, sandbox)."""
        out = []
        for i, r in enumerate(rules, 1):
            out.append({"id": i, "action": r[0], "resource": r[1], "sandbox": r[2] if len(r) > 2 else None})
        p = self.home / "config" / "policy.json"
        tmp = p.with_suffix(".tmp")
        tmp.write_text(json.dumps({"preset": preset, "rules": out}))
        os.chmod(tmp, 0o600)
        os.replace(tmp, p)

    def settings(self, **kv):
        p = self.home / "config" / "settings.json"
        tmp = p.with_suffix(".tmp")
        tmp.write_text(json.dumps({k.replace("_", "."): v for k, v in kv.items()}))
        os.chmod(tmp, 0o600)
        os.replace(tmp, p)

    def start(self, transparent=False, orig_dst=None, dns=True):
        args = [str(SBX), "proxy-bench", "--sandbox", self.sandbox, "--listen", "127.0.0.1:0"]
        if transparent:
            args.append("--transparent")
        if orig_dst:
            args += ["--orig-dst", orig_dst]
        if dns:
            args += ["--dns-listen", "127.0.0.1:0"]
        env = dict(os.environ, SBX_HOME=str(self.home))
        self.ports = {}
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=open(self.home / "bench.err", "wb"),
                                     env=env)
        want = 2 if dns else 1
        while len(self.ports) < want:
            line = self.proc.stdout.readline().decode()
            if not line:
                raise RuntimeError("proxy-bench exited: " + (self.home / "bench.err").read_text())
            _, kind, addr = line.split()
            self.ports[kind] = int(addr.rsplit(":", 1)[1])
        return self

    @property
    def port(self):
        return self.ports.get("forward") or self.ports["transparent"]

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def audit(self):
        p = self.home / "state" / "audit.log"
        if not p.exists():
            return []
        return [json.loads(l) for l in p.read_text().splitlines() if l.strip()]

    def dns(self, name, qtype=1, timeout=10):
        s = socket.create_connection(("127.0.0.1", self.ports["dns"]), timeout=timeout)
        q = dns_query(name, qtype)
        s.sendall(struct.pack(">H", len(q)) + q)
        data = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
        s.close()
        if len(data) < 2:
            return None
        n, = struct.unpack(">H", data[:2])
        return dns_parse_answer(data[2:2 + n])


def recv_response(sock, timeout=10):
    """Read one HTTP/1.1 response (Content-Length or close-delimited) from sock."""
    sock.settimeout(timeout)
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = sock.recv(65536)
        if not d:
            if not buf:
                return None
            break
        buf += d
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for l in lines[1:]:
        k, _, v = l.partition(":")
        headers[k.strip().lower()] = v.strip()
    if "content-length" in headers:
        n = int(headers["content-length"])
        while len(rest) < n:
            d = sock.recv(65536)
            if not d:
                break
            rest += d
        body, extra = rest[:n], rest[n:]
        assert not extra, "bytes after the response"
    else:
        body = rest
        while True:
            d = sock.recv(65536)
            if not d:
                break
            body += d
    return status, headers, body


def closed(sock, timeout=5):
    """True when the peer closed (EOF or reset) within timeout, ignoring pending data."""
    sock.settimeout(timeout)
    try:
        while True:
            d = sock.recv(65536)
            if not d:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


@pytest.fixture(scope="session")
def sbx_bin():
    if not SBX.exists():
        pytest.skip(f"{SBX} not built")
    r = subprocess.run([str(SBX), "proxy-bench", "--help"], capture_output=True)
    if r.returncode != 0:
        # a broken engine must fail the suite, never skip it
        pytest.fail(f"{SBX} proxy-bench --help failed: {r.stderr.decode(errors='replace')[:500]}")
    return SBX


@pytest.fixture
def bench(sbx_bin, tmp_path):
    b = Bench(tmp_path / "home")
    yield b
    b.stop()


@pytest.fixture(scope="session")
def certs():
    d = Path(tempfile.mkdtemp(prefix="sbx-proxy-certs-"))
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem"),
                    "-subj", "/CN=secure.test",
                    "-addext", "subjectAltName=DNS:secure.test,DNS:other.test"],
                   check=True, capture_output=True)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def upstreams(certs):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(certs / "cert.pem", certs / "key.pem")
    a = start_http("A")
    b = start_http("B")
    s = start_http("S", ctx)
    e = start_tcp_echo()
    yield {"a": a.server_address[1], "b": b.server_address[1], "tls": s.server_address[1],
           "echo": e.server_address[1]}
    for srv in (a, b, s, e):
        srv.shutdown()
        srv.server_close()


@pytest.fixture
def fake_dns():
    d = FakeDNS({"internal.test": "127.0.0.1", "public.test": "93.184.216.34",
                 "mixed.test": "10.1.2.3", "meta.test": "169.254.169.254"})
    yield d
    d.close()
