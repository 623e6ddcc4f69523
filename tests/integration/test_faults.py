# SPDX-License-Identifier: MIT
# test_faults.py: guests that never come up or die in boot, QEMU that fails to start, a flooding exec,
# sbxd killed with SIGKILL in the middle of a guest's download.
import http.server
import glob
import os
import pathlib
import shlex
import shutil
import signal
import tempfile
import threading
import time

import pytest

from conftest import http_reply, pid_alive, wait_until

# The daemon inherits the environment of the sbx command that starts it, so each of
# these tests uses its own SBX_HOME and sets the knobs on its first command:
# SBX_BOOT_TIMEOUT (seconds), SBX_GUEST_CMDLINE (appended to the kernel command line),
# SBX_QEMU (the QEMU binary).


def _assert_nothing_running(h, name):
    assert wait_until(lambda: not h.vm_processes(), 15), f"left running: {h.vm_processes()}"
    vj = h.vm_json(name)
    if vj:
        assert not pid_alive(vj.get("qemu_pid", 0), vj.get("qemu_start"))
        assert not pid_alive(vj.get("vfsd_pid", 0), vj.get("vfsd_start"))
    assert h.status(name) == "stopped", h.ls_json()
    # nor its cgroup (a VMM that failed at start is reaped a moment after it is killed)
    dpid = h.daemon_pid()
    if dpid:
        left = [d for d in _our_cgroup_parents() for d in glob.glob(f"{d}/sbx-{name}-{dpid:x}")]
        assert not left, left


def _our_cgroup_parents():
    """Where sbxd (started from this process's cgroup) makes the sandboxes' cgroups."""
    out = []
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            if ctrls == "" and os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
                out.append("/sys/fs/cgroup/sbx.slice" if os.getuid() == 0 else "/sys/fs/cgroup" + path)
            for c in ("memory", "cpu", "pids"):
                if c in ctrls.split(","):
                    out.append(f"/sys/fs/cgroup/{c}{path}".rstrip("/"))
    return out


def test_guest_that_never_comes_up(fresh):
    ws = fresh.workspace()
    # No init and panic=0: the kernel panics and waits forever; QEMU stays up.
    # 20 s: under TCG with other VMs running, reaching the panic took over 8 s once.
    env = {"SBX_BOOT_TIMEOUT": "20",
           "SBX_GUEST_CMDLINE": "rdinit=/no/such/init init=/no/such/init panic=0"}
    t0 = time.monotonic()
    r = fresh.sbx("run", "--name", "hang", "shell", ws, "--", "true", env=env, timeout=180)
    took = time.monotonic() - t0
    assert r.rc != 0, r
    assert "did not come up" in r.err, r
    # The tail of the console log is shown.
    assert "console" in r.err and "panic" in r.err.lower(), r
    assert took < 75, f"took {took:.0f}s with a 20 s boot timeout"
    _assert_nothing_running(fresh, "hang")
    # exec on it fails the same way, and still leaves nothing running.
    r = fresh.sbx("exec", "hang", "true", timeout=180)
    assert r.rc != 0 and r.err.strip(), r
    _assert_nothing_running(fresh, "hang")


def test_guest_that_dies_during_boot(fresh):
    ws = fresh.workspace()
    env = {"SBX_BOOT_TIMEOUT": "60",
           "SBX_GUEST_CMDLINE": "rdinit=/no/such/init init=/no/such/init panic=-1"}
    t0 = time.monotonic()
    r = fresh.sbx("run", "--name", "dies", "shell", ws, "--", "true", env=env, timeout=180)
    assert r.rc != 0, r
    assert "exited during boot" in r.err and "panic" in r.err.lower(), r
    assert time.monotonic() - t0 < 50, "did not notice QEMU's exit"
    _assert_nothing_running(fresh, "dies")


def test_guest_config_error_during_start_leaves_sbxd_up(fresh):
    """The guest refuses its configuration (OP_ERROR) while the sandbox starts: the
    start fails with the guest's words, and sbxd, which gets that message in the middle
    of reading the channel, stays up (it once tore the channel down under its own
    reader and crashed)."""
    ws = fresh.workspace()
    env = {"SBX_GUEST_CMDLINE": "sbx.failconfig=1"}
    r = fresh.sbx("run", "--name", "cfgerr", "shell", ws, "--", "true", env=env, timeout=180)
    assert r.rc != 0, r
    assert "sbx.failconfig" in r.err, r
    pid = fresh.daemon_pid()
    assert pid and pid_alive(pid), ("sbxd died", r, fresh.diag())
    _assert_nothing_running(fresh, "cfgerr")
    # and it still serves: a second failed start, then ls
    r = fresh.sbx("exec", "cfgerr", "true", timeout=180)
    assert r.rc != 0 and "sbx.failconfig" in r.err, r
    assert fresh.daemon_pid() == pid
    assert fresh.status("cfgerr") == "stopped"


def test_system_directory_as_workspace_is_refused_up_front(fresh):
    """The guest cannot share its own /home, /etc, /usr... at the same path: sbx says so
    at create, before a VM boots, instead of failing the start."""
    for d in ("/home", "/etc", "/usr", "/var"):
        r = fresh.sbx("create", "--name", "sys", "shell", d, timeout=60)
        assert r.rc == 2, r
        assert d in r.err and "system directory" in r.err, r
    assert "sys" not in fresh.sbx("ls", "-q").out.split()


def test_qemu_that_fails_to_start(fresh):
    ws = fresh.workspace()
    r = fresh.sbx("run", "--name", "noqemu", "shell", ws, "--", "true",
                  env={"SBX_QEMU": "/bin/false"}, timeout=180)
    assert r.rc != 0 and r.err.strip(), r
    _assert_nothing_running(fresh, "noqemu")
    # Its virtiofsd was not left waiting for a QEMU that never came.
    assert not fresh.vm_processes()


@pytest.fixture
def open_dir():
    """A directory every id can search: virtiofsd runs as an id of its own namespace."""
    d = tempfile.mkdtemp(prefix="sbx-vmm-")
    os.chmod(d, 0o755)
    yield pathlib.Path(d)
    shutil.rmtree(d, ignore_errors=True)


def _fake_vmm(tmp_path, name, says):
    """A stand-in VMM that says `says` on stderr and exits 1, as QEMU or virtiofsd do
    when they cannot open a file."""
    p = tmp_path / name
    p.write_text(f"#!/bin/sh\necho {shlex.quote(says)} >&2\nexit 1\n")
    p.chmod(0o755)
    return str(p)


def test_qemu_start_failure_names_the_process_the_cause_and_the_fix(fresh, tmp_path):
    """A QEMU that exits at start: the error names QEMU, repeats what it said and
    gives a fix, instead of "cannot launch the VM: Input/output error"."""
    ws = fresh.workspace()
    said = "qemu-system-x86_64: -drive if=none: Could not open '/x/disk.qcow2': Permission denied"
    r = fresh.sbx("run", "--name", "qerr", "shell", ws, "--", "true",
                  env={"SBX_QEMU": _fake_vmm(tmp_path, "qemu", said)}, timeout=180)
    assert r.rc != 0, r
    assert "QEMU (" in r.err and "did not start: it exited at once" in r.err, r.err
    assert "Could not open '/x/disk.qcow2': Permission denied" in r.err, r.err
    assert "fix: the file it names must be readable" in r.err, r.err
    assert "Input/output error" not in r.err, r.err
    _assert_nothing_running(fresh, "qerr")
    # a QEMU that is not there at all (sbxd keeps the environment it started with)
    assert fresh.sbx("daemon", "stop").rc == 0
    r = fresh.sbx("run", "--name", "qerr", "shell", ws, "--", "true",
                  env={"SBX_QEMU": str(tmp_path / "no-such-qemu")}, timeout=180)
    assert r.rc != 0 and "QEMU (" in r.err and "the program is missing" in r.err, r.err
    assert "fix: install it" in r.err, r.err
    _assert_nothing_running(fresh, "qerr")


def test_virtiofsd_start_failure_names_it(fresh, tmp_path, open_dir):
    """virtiofsd that exits at once: QEMU then fails on the vhost-user socket, and the
    error shows what virtiofsd said and points at it; one its id cannot execute, or
    that is missing, is named as such."""
    ws = fresh.workspace()
    said = "[ERROR virtiofsd] Error entering sandbox: Operation not permitted"
    r = fresh.sbx("run", "--name", "verr", "shell", ws, "--", "true",
                  env={"SBX_VIRTIOFSD": _fake_vmm(open_dir, "virtiofsd", said)}, timeout=180)
    assert r.rc != 0, r
    assert "did not start" in r.err and "Error entering sandbox" in r.err, r.err
    assert "fix: the workspace server (virtiofsd) failed" in r.err, r.err
    _assert_nothing_running(fresh, "verr")
    if os.getuid() == 0:
        # as root, virtiofsd's id (its jail slot's, 1000000000+) cannot reach pytest's private tmp_path
        assert fresh.sbx("daemon", "stop").rc == 0
        r = fresh.sbx("run", "--name", "verr", "shell", ws, "--", "true",
                      env={"SBX_VIRTIOFSD": _fake_vmm(tmp_path, "virtiofsd", said)}, timeout=180)
        assert r.rc != 0 and "cannot be executed by the id it runs as" in r.err, r.err
        assert "world-searchable" in r.err, r.err
        _assert_nothing_running(fresh, "verr")
    assert fresh.sbx("daemon", "stop").rc == 0
    r = fresh.sbx("run", "--name", "verr", "shell", ws, "--", "true",
                  env={"SBX_VIRTIOFSD": str(open_dir / "no-such-virtiofsd")}, timeout=180)
    assert r.rc != 0 and "virtiofsd (" in r.err and "the program is missing" in r.err, r.err
    _assert_nothing_running(fresh, "verr")


def test_console_flood_is_bounded(box):
    """Guest root writing to the serial console cannot fill the host's disk."""
    box.ok("sh", "-c", "head -c 6000000 /dev/zero | tr '\\0' x > /dev/ttyS0", opts=["-u", "root"], timeout=300)
    import time
    log = box.home.sandbox_dir(box.name) / "console.log"
    deadline = time.time() + 10
    while time.time() < deadline and log.stat().st_size > 4 * 1024 * 1024:
        time.sleep(0.5)
    assert log.stat().st_size <= 4 * 1024 * 1024 + 65536, log.stat().st_size


def test_hung_boot_is_relaunched_once_then_fails(fresh):
    """A guest that never says HELLO is killed and booted once more within the same
    deadline; when the second boot hangs too, the start fails and nothing is left."""
    ws = fresh.workspace()
    env = {"SBX_BOOT_TIMEOUT": "36",
           "SBX_GUEST_CMDLINE": "rdinit=/no/such/init init=/no/such/init panic=0"}
    t0 = time.monotonic()
    r = fresh.sbx("run", "--name", "hang2", "shell", ws, "--", "true", env=env, timeout=180)
    took = time.monotonic() - t0
    assert r.rc != 0 and "did not come up within 36 s" in r.err, r
    assert 30 < took < 90, took
    log = (fresh.state_dir / "sbxd.log").read_text()
    assert log.count("relaunching the VM once") == 1, log[-2000:]
    _assert_nothing_running(fresh, "hang2")


# --- sbxd killed during a download ------------------------------------------

SLOW_TOTAL = 256 * 1024 * 1024


class _SlowHandler(http.server.BaseHTTPRequestHandler):
    """/slow: a body of SLOW_TOTAL bytes trickled out (64 KiB every 20 ms), so a download
    is still under way when the test kills sbxd; anything else: "ok"."""
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path.startswith("/slow"):
            self.send_response(200)
            self.send_header("Content-Length", str(SLOW_TOTAL))
            self.end_headers()
            self.server.slow_started.set()
            chunk = b"x" * 65536
            try:
                for _ in range(SLOW_TOTAL // len(chunk)):
                    if self.server.stopping:
                        return
                    self.wfile.write(chunk)
                    time.sleep(0.02)
            except OSError:
                self.server.slow_broken.set()
            return
        http_reply(self, b"ok\n")

    def log_message(self, *a):
        pass


def test_sbxd_killed_during_a_download(fresh):
    """SIGKILL of sbxd while a guest downloads: the VM keeps running, the guest's client
    gets an error at once (not a hang until a new daemon comes), and the next request,
    which starts a new sbxd on demand, adopts the VM and works."""
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SlowHandler)
    srv.stopping = False
    srv.slow_started, srv.slow_broken = threading.Event(), threading.Event()
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        port = srv.server_address[1]
        fresh.ok("policy", "allow", "network", "dl.test")
        fresh.ok("settings", "set", "proxy.resolve", f"dl.test:80=127.0.0.1:{port}")
        ws = fresh.workspace()
        fresh.ok("run", "-d", "--name", "dl", "shell", ws, timeout=300)
        vm = fresh.vm_json("dl")
        old = fresh.daemon_pid()
        assert vm and old
        # In a session of its own, so that it outlives this exec; it records its exit
        # status and the guest clock when curl returns.
        inner = ("curl -sS --max-time 600 -o /tmp/dl.out http://dl.test/slow 2>/tmp/dl.err; "
                 "echo \"$? $(date +%s.%N)\" > /tmp/dl.rc")
        fresh.ok("exec", "dl", "sh", "-c", f"setsid -f sh -c '{inner}' </dev/null >/dev/null 2>&1", timeout=60)
        assert srv.slow_started.wait(60), fresh.diag()

        def got():
            r = fresh.sbx("exec", "dl", "stat", "-c", "%s", "/tmp/dl.out", timeout=60)
            return r.rc == 0 and int(r.out) > 1024 * 1024
        assert wait_until(got, 60, interval=0.5), fresh.diag()

        os.kill(old, signal.SIGKILL)
        assert wait_until(lambda: not pid_alive(old), 10)
        # No daemon for a while: the guest's client must not wait for one.
        time.sleep(6)
        assert pid_alive(vm["qemu_pid"], vm["qemu_start"]), "the VM died with sbxd"
        # The next command starts a new daemon, which adopts the running VM.
        r = fresh.ok("exec", "dl", "sh", "-c", "cat /tmp/dl.rc; cat /tmp/dl.err; date +%s.%N", timeout=180)
        new = fresh.daemon_pid()
        assert new and new != old
        lines = r.out.split("\n")
        rc, ended = lines[0].split()
        now = float([l for l in lines if l.strip()][-1])
        assert int(rc) != 0, r
        # curl ended when the channel went, not when the new daemon came 6 s later.
        assert now - float(ended) > 4, r
        assert fresh.vm_json("dl") == vm, "the VM was relaunched, not adopted"
        # The next request works.
        r = fresh.ok("exec", "dl", "curl", "-sS", "--max-time", "60", "http://dl.test/ok", timeout=120)
        assert r.out == "ok\n", r
        log = (fresh.state_dir / "sbxd.log").read_text()
        assert "re-adopted running VM" in log, log[-2000:]
    finally:
        srv.stopping = True
        srv.shutdown()
        srv.server_close()
