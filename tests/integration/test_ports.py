# SPDX-License-Identifier: MIT
# test_ports.py: published ports (`sbx run -p`, `sbx ports`): real servers in the guest,
# real clients on the host, over the sandbox's channel (the VM has no network device).
import concurrent.futures
import hashlib
import json
import os
import socket
import time
import urllib.request

import pytest

from conftest import new_home, wait_until

# A threaded echo server for the guest (python3 is in the minimal template): every
# connection gets back exactly what it sent, then EOF after the client's EOF.
ECHO_PY = r"""
import socket, sys, threading
def serve(c):
    with c:
        while True:
            b = c.recv(65536)
            if not b:
                break
            c.sendall(b)
        c.shutdown(socket.SHUT_WR)
addr = sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1"
s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((addr, int(sys.argv[1])))
s.listen(128)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"""

ECHO_PORT = 9000
ECHO6_PORT = 9001   # the same server on ::1 only
HTTP_PORT = 8000


def free_port():
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def echo(port, data, timeout=60, host="127.0.0.1"):
    """Send data to host:port, half-close, read to EOF; what came back."""
    with socket.create_connection((host, port), timeout=timeout) as c:
        out = bytearray()

        def reader():
            while True:
                b = c.recv(1 << 16)
                if not b:
                    return
                out.extend(b)
        with concurrent.futures.ThreadPoolExecutor(1) as ex:
            fut = ex.submit(reader)
            c.sendall(data)
            c.shutdown(socket.SHUT_WR)
            fut.result(timeout=timeout)
        return bytes(out)


def refused(port):
    """True when nothing listens on 127.0.0.1:port."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=10).close()
        return False
    except ConnectionRefusedError:
        return True


def echo_ok(port, host="127.0.0.1"):
    try:
        return echo(port, b"ping", timeout=10, host=host) == b"ping"
    except OSError:
        return False


def start_servers(home, name, ws, http=True):
    """The echo server (and http.server) in the guest, detached from the exec; wait
    until they answer through the published port is the caller's job."""
    (ws / "echo.py").write_text(ECHO_PY)
    cmd = f"setsid -f python3 {ws}/echo.py {ECHO_PORT} </dev/null >/tmp/echo.log 2>&1"
    cmd += f"; setsid -f python3 {ws}/echo.py {ECHO6_PORT} ::1 </dev/null >/tmp/echo6.log 2>&1"
    if http:
        cmd += f"; cd {ws} && setsid -f python3 -m http.server --bind 127.0.0.1 {HTTP_PORT} </dev/null >/tmp/http.log 2>&1"
    home.ok("exec", name, "sh", "-c", cmd, timeout=120)


@pytest.fixture(scope="module")
def pbox(sbx):
    """One running sandbox publishing its echo and HTTP ports on free host ports."""
    home = new_home("pt")
    ws = home.workspace("ptws")
    (ws / "hello.txt").write_text("hello from the sandbox\n")
    hp_echo, hp_http = free_port(), free_port()
    home.ok("run", "-d", "--name", "pt", "-p", f"{hp_echo}:{ECHO_PORT}", "--publish",
            f"127.0.0.1:{hp_http}:{HTTP_PORT}", "shell", ws, timeout=300)
    start_servers(home, "pt", ws)
    assert wait_until(lambda: echo_ok(hp_echo), 60, interval=0.5), home.diag()
    yield home, "pt", ws, hp_echo, hp_http
    home.close()


def test_http_request(pbox):
    """One real HTTP request from the host reaches http.server in the guest."""
    home, name, ws, hp_echo, hp_http = pbox

    def get():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{hp_http}/hello.txt", timeout=30) as r:
                return r.status, r.read()
        except OSError:
            return None
    res = wait_until(get, 60, interval=0.5)
    assert res == (200, b"hello from the sandbox\n"), (res, home.diag())


def test_many_connections_at_once(pbox):
    """50 concurrent connections, each with its own payload: all answered, intact."""
    home, name, ws, hp_echo, hp_http = pbox
    payloads = [os.urandom(32 * 1024 + i * 777) for i in range(50)]
    with concurrent.futures.ThreadPoolExecutor(50) as ex:
        got = list(ex.map(lambda p: echo(hp_echo, p, timeout=120), payloads))
    bad = [i for i, (p, g) in enumerate(zip(payloads, got)) if p != g]
    assert not bad, (bad, [len(g) for g in got][:10], home.diag())


def test_large_transfer_by_hash(pbox):
    """A few MiB both ways, checked by hash; the time is printed for the report."""
    home, name, ws, hp_echo, hp_http = pbox
    data = os.urandom(8 * 1024 * 1024)
    t0 = time.monotonic()
    back = echo(hp_echo, data, timeout=300)
    dt = time.monotonic() - t0
    print(f"8 MiB echoed through the published port in {dt:.2f} s ({2 * 8 / dt:.1f} MiB/s both ways)")
    assert len(back) == len(data), (len(back), home.diag())
    assert hashlib.sha256(back).hexdigest() == hashlib.sha256(data).hexdigest()


def test_listed_in_ports_and_ls(pbox):
    home, name, ws, hp_echo, hp_http = pbox
    out = home.ok("ports", name, timeout=60).out
    assert f"127.0.0.1:{hp_echo} -> {ECHO_PORT}" in out, out
    assert f"127.0.0.1:{hp_http} -> {HTTP_PORT}" in out, out
    ports = json.loads(home.ok("ports", name, "--json", timeout=60).out)
    assert {(p["host_port"], p["guest_port"], p["listening"]) for p in ports} == \
        {(hp_echo, ECHO_PORT, True), (hp_http, HTTP_PORT, True)}, ports
    info = home.ls_json()[name]
    assert sorted(info["ports"]) == sorted([f"127.0.0.1:{hp_echo}:{ECHO_PORT}", f"127.0.0.1:{hp_http}:{HTTP_PORT}"])
    lines = home.ok("ls", timeout=60).out.splitlines()
    assert lines[0].split()[-1] == "PORTS", lines
    assert f"127.0.0.1:{hp_echo}->{ECHO_PORT}" in lines[1], lines


def test_publish_unpublish_running(pbox):
    """Publishing on a running sandbox listens at once; unpublishing (by HOSTPORT or
    by the whole SPEC) closes the listener; the spec file follows."""
    home, name, ws, hp_echo, hp_http = pbox
    hp = free_port()
    assert refused(hp)
    home.ok("ports", name, "--publish", f"{hp}:{ECHO_PORT}", timeout=60)
    assert echo(hp, b"x" * 100000) == b"x" * 100000
    spec = json.loads((home.sandbox_dir(name) / "spec.json").read_text())
    assert f"127.0.0.1:{hp}:{ECHO_PORT}" in spec["ports"], spec
    home.ok("ports", name, "--unpublish", str(hp), timeout=60)
    assert refused(hp)
    assert echo_ok(hp_echo)   # the others stay
    home.ok("ports", name, "--publish", f"{hp}:{ECHO_PORT}", timeout=60)
    assert echo_ok(hp)
    home.ok("ports", name, "--unpublish", f"127.0.0.1:{hp}:{ECHO_PORT}", timeout=60)
    assert refused(hp)
    spec = json.loads((home.sandbox_dir(name) / "spec.json").read_text())
    assert not any(p.endswith(f":{hp}:{ECHO_PORT}") for p in spec["ports"]), spec
    r = home.sbx("ports", name, "--unpublish", str(hp), timeout=60)
    assert r.rc != 0 and "not published" in r.err, r


def host_has_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def test_ipv6_both_sides(pbox):
    """A server listening on ::1 only in the guest is reached (127.0.0.1 is tried first),
    and a port published on [::1] of the host listens there."""
    home, name, ws, hp_echo, hp_http = pbox
    hp = free_port()
    home.ok("ports", name, "--publish", f"{hp}:{ECHO6_PORT}", timeout=60)
    try:
        assert wait_until(lambda: echo_ok(hp), 30, interval=0.5), home.diag()
        assert echo(hp, b"v6" * 50000) == b"v6" * 50000
    finally:
        home.ok("ports", name, "--unpublish", str(hp), timeout=60)
    if not host_has_ipv6_loopback():
        pytest.skip("no ::1 on this host")
    home.ok("ports", name, "--publish", f"[::1]:{hp}:{ECHO_PORT}", timeout=60)
    try:
        assert echo_ok(hp, host="::1")
        assert refused(hp)   # not on 127.0.0.1
        assert f"[::1]:{hp} -> {ECHO_PORT}" in home.ok("ports", name, timeout=60).out
    finally:
        home.ok("ports", name, "--unpublish", f"[::1]:{hp}", timeout=60)


def test_guest_port_without_server(pbox):
    """A published port nothing listens on in the guest: the host client is reset, the
    sandbox and the other ports carry on."""
    home, name, ws, hp_echo, hp_http = pbox
    hp = free_port()
    home.ok("ports", name, "--publish", f"{hp}:9999", timeout=60)
    try:
        # The reset can come before the connect is even reported (SO_ERROR).
        try:
            with socket.create_connection(("127.0.0.1", hp), timeout=30) as c:
                c.settimeout(30)
                got = c.recv(10)
        except ConnectionResetError:
            got = b""
        assert got == b""
        assert echo_ok(hp_echo)
    finally:
        home.ok("ports", name, "--unpublish", str(hp), timeout=60)


def test_port_in_use(pbox):
    """A host port already taken: a clear error, non-zero exit, nothing changed."""
    home, name, ws, hp_echo, hp_http = pbox
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        hp = taken.getsockname()[1]
        before = json.loads(home.ok("ports", name, "--json", timeout=60).out)
        r = home.sbx("ports", name, "--publish", f"{hp}:{ECHO_PORT}", timeout=60)
        assert r.rc != 0 and "in use" in r.err, r
        after = json.loads(home.ok("ports", name, "--json", timeout=60).out)
        assert before == after
        # A new sandbox asking for it is not created at all.
        ws2 = home.workspace("ptws2")
        r = home.sbx("create", "--name", "pt2", "-p", f"{hp}:80", "shell", ws2, timeout=120)
        assert r.rc != 0 and "in use" in r.err, r
        assert "pt2" not in home.names()
        # A host port this sandbox already publishes cannot be published twice.
        r = home.sbx("ports", name, "--publish", f"{hp_echo}:1234", timeout=60)
        assert r.rc != 0, r


def test_bad_specs(fresh):
    """Usage errors need no daemon; 0.0.0.0 is allowed but warned about."""
    ws = fresh.workspace()
    for bad in ("80", "0:80", "localhost:8080:80", "8080:80/tcp", "::1:8080:80", "8080:99999"):
        r = fresh.sbx("create", "--name", "x", "-p", bad, "shell", ws, timeout=60)
        assert r.rc == 2 and "--publish" in r.err, (bad, r)
    assert fresh.daemon_pid() is None
    hp = free_port()
    r = fresh.sbx("create", "--name", "wild", "-p", f"0.0.0.0:{hp}:80", "shell", ws, timeout=120)
    assert r.rc == 0 and "exposed to the network" in r.err, r
    assert fresh.ls_json()["wild"]["ports"] == [f"0.0.0.0:{hp}:80"]


def test_stop_start_restart_rm(fresh):
    """Ports survive stop + start and a daemon restart (the listeners come back), and
    go with sbx rm."""
    ws = fresh.workspace()
    hp = free_port()
    fresh.ok("run", "-d", "--name", "life", "-p", f"{hp}:{ECHO_PORT}", "shell", ws, timeout=300)
    start_servers(fresh, "life", ws, http=False)
    assert wait_until(lambda: echo_ok(hp), 60, interval=0.5), fresh.diag()

    fresh.ok("stop", "life", timeout=120)
    assert refused(hp), fresh.diag()
    out = fresh.ok("ports", "life", timeout=60).out
    assert f"127.0.0.1:{hp} -> {ECHO_PORT} (the sandbox is not running)" in out, out
    # `sbx run -p` on the existing sandbox publishes what it adds.
    hp2 = free_port()
    fresh.ok("run", "-d", "--name", "life", "-p", f"{hp2}:{ECHO_PORT}", "shell", ws, timeout=300)
    start_servers(fresh, "life", ws, http=False)
    assert wait_until(lambda: echo_ok(hp), 60, interval=0.5), fresh.diag()
    assert wait_until(lambda: echo_ok(hp2), 30, interval=0.5), fresh.diag()

    # sbxd restarts on demand and adopts the running VM: the listener is re-created.
    old = fresh.daemon_pid()
    fresh.ok("daemon", "stop", timeout=60)
    assert wait_until(lambda: refused(hp), 30), "the listener outlived its daemon"
    fresh.ok("ls", timeout=120)
    assert fresh.daemon_pid() not in (None, old), (old, fresh.daemon_pid())
    assert wait_until(lambda: echo_ok(hp), 120, interval=0.5), fresh.diag()

    fresh.ok("rm", "-f", "life", timeout=120)
    assert refused(hp) and refused(hp2), fresh.diag()


def test_connection_cap(pbox):
    """At most PORTS_CONN_MAX (128) connections of a sandbox are relayed at once; those
    past it are closed at once, and the sandbox serves again once they end."""
    home, name, ws, hp_echo, hp_http = pbox
    conns, answered, closed = [], 0, 0
    try:
        for _ in range(140):
            c = socket.create_connection(("127.0.0.1", hp_echo), timeout=60)
            conns.append(c)
            time.sleep(0.01)
        for c in conns:
            try:
                c.sendall(b"k")
                got = c.recv(1)
            except OSError:
                got = b""
            if got == b"k":
                answered += 1
            else:
                closed += 1
    finally:
        for c in conns:
            c.close()
    assert answered == 128 and closed == 12, (answered, closed, home.diag())
    assert wait_until(lambda: echo_ok(hp_echo), 30, interval=0.5), home.diag()
