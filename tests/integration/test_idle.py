# SPDX-License-Identifier: MIT
# test_idle.py: sandbox.idleStop: sbxd stops a running sandbox that has had no exec
# session, no egress stream and no busy CPU for that long (never one that publishes
# ports), and the next exec starts it again transparently.
import socket
import time

from conftest import wait_until


def daemon_log(h):
    try:
        return (h.state_dir / "sbxd.log").read_text(errors="replace")
    except OSError:
        return ""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stays(h, name, status, secs):
    """True when NAME's status is STATUS throughout SECS seconds."""
    end = time.monotonic() + secs
    while time.monotonic() < end:
        if h.status(name) != status:
            return False
        time.sleep(1)
    return True


def test_idle_sandbox_stops_and_exec_starts_it_again(fresh):
    h = fresh
    h.ok("settings", "set", "sandbox.idleStop", "3s", timeout=30)
    ws = h.workspace()
    t0 = int(time.time())
    h.ok("run", "-d", "--name", "idl", "shell", ws, timeout=300)
    # boot, then 3 s with nothing going on (CPU sampled every 5 s)
    assert h.wait_status("idl", "stopped", 90), h.diag()
    ls = h.ls_json()["idl"]
    assert ls["stopped"] >= t0, ls
    assert "idle for" in daemon_log(h), daemon_log(h)[-2000:]

    # the next exec starts it transparently and runs the command
    r = h.ok("exec", "idl", "sh", "-c", "echo hi; cat /proc/uptime", timeout=300)
    assert r.out.split()[0] == "hi", r
    assert float(r.out.split()[1]) < 60, r   # a fresh boot, not a VM that kept running

    # an exec session keeps it running however long it lasts
    r = h.ok("exec", "idl", "sleep", "12", timeout=120)
    assert h.status("idl") == "running", h.diag()
    assert h.wait_status("idl", "stopped", 60), h.diag()


def test_busy_guest_and_published_ports_keep_it_running(fresh):
    h = fresh
    h.ok("settings", "set", "sandbox.idleStop", "3s", timeout=30)
    ws = h.workspace()
    h.ok("run", "-d", "--name", "busy", "shell", ws, timeout=300)
    # a CPU-bound background process outside any exec session
    h.ok("exec", "busy", "sh", "-c", "nohup sh -c 'while :; do :; done' >/dev/null 2>&1 & echo $! > /tmp/hog",
         timeout=300)
    assert stays(h, "busy", "running", 20), h.diag()
    h.ok("exec", "busy", "sh", "-c", "kill $(cat /tmp/hog)", timeout=60)
    assert h.wait_status("busy", "stopped", 60), h.diag()

    # a sandbox publishing a port serves visitors sbx cannot foresee: never idle
    port = free_port()
    h.ok("ports", "busy", "--publish", f"{port}:80", timeout=60)
    h.ok("exec", "busy", "true", timeout=300)
    assert stays(h, "busy", "running", 15), h.diag()
    h.ok("ports", "busy", "--unpublish", str(port), timeout=60)
    assert h.wait_status("busy", "stopped", 60), h.diag()


def test_idle_stop_off(fresh):
    h = fresh
    h.ok("settings", "set", "sandbox.idleStop", "off", timeout=30)
    assert h.ok("settings", "get", "sandbox.idleStop", timeout=30).out.strip().endswith("off")
    ws = h.workspace()
    h.ok("run", "-d", "--name", "keep", "shell", ws, timeout=300)
    assert stays(h, "keep", "running", 12), h.diag()
    # turned on while it runs: sbxd reads the setting again
    h.ok("settings", "set", "sandbox.idleStop", "2s", timeout=30)
    assert wait_until(lambda: h.status("keep") == "stopped", 60, interval=1), h.diag()
