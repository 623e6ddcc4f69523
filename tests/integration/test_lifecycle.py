# SPDX-License-Identifier: MIT
# test_lifecycle.py: create/run/stop/rm, ls formats, persistence, daemon and QEMU crashes.
import json
import os
import pwd
import re
import secrets
import signal
import stat
import subprocess
import sys
import threading
import time

import pytest

from conftest import pid_alive, proc_starttime, wait_until

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


def _vm_pids(h, name):
    vj = h.vm_json(name)
    assert vj, f"no vm.json for {name}\n{h.diag()}"
    return [(vj["qemu_pid"], vj.get("qemu_start")), (vj["vfsd_pid"], vj.get("vfsd_start"))]


def _assert_gone(h, name, pids):
    for pid, start in pids:
        assert wait_until(lambda: not pid_alive(pid, start), 15), f"pid {pid} still alive"
    assert not h.vm_dir(name).exists(), f"{h.vm_dir(name)} left behind"
    assert not h.sandbox_dir(name).exists(), f"{h.sandbox_dir(name)} left behind"
    assert name not in h.names()


def test_create_ls_run_stop(sbx):
    ws = sbx.workspace()
    name = "lsbox"
    t0 = time.monotonic()
    sbx.ok("create", "--name", name, "--cpus", "2", "-m", "1G", "-e", "SPECVAR=from spec",
           "shell", ws, timeout=120)
    try:
        info = sbx.ls_json()[name]
        assert info == {**info, "name": name, "agent": "shell", "status": "stopped",
                        "workspace": str(ws.resolve()), "template": "minimal",
                        "cpus": 2, "memory_mib": 1024}, info
        assert set(info) >= {"name", "agent", "status", "workspace", "template", "cpus",
                             "memory_mib"}
        assert name in sbx.names()
        table = sbx.ok("ls").out.splitlines()
        assert table[0].split() == ["SANDBOX", "AGENT", "STATUS", "CPU", "MEM", "WORKSPACE"], table
        row = [line.split() for line in table[1:] if line.split()[:1] == [name]]
        assert row and row[0][1:6] == ["shell", "stopped", "-", "-", str(ws.resolve())], table
        # Files of a created sandbox: spec, disk; no VM yet.
        sd = sbx.sandbox_dir(name)
        spec = json.loads((sd / "spec.json").read_text())
        assert isinstance(spec, dict)
        assert (sd / "disk.qcow2").exists()
        assert not (sbx.vm_dir(name) / "vm.json").exists()
        print(f"create took {time.monotonic() - t0:.2f}s")

        r = sbx.sbx("run", "-d", "--name", name, "shell", ws, timeout=300)
        assert r.rc == 0, f"{r!r}\n{sbx.diag()}"
        assert sbx.status(name) == "running"
        # The resources reach the guest.
        r = sbx.ok("exec", name, "nproc")
        assert r.out.strip() == "2", r
        mem_kib = int(re.search(r"MemTotal:\s+(\d+)", sbx.ok("exec", name, "cat",
                                                              "/proc/meminfo").out).group(1))
        assert 700 * 1024 < mem_kib <= 1024 * 1024, mem_kib
        # create -e: environment of every command; exec -e adds to it.
        r = sbx.ok("exec", "-e", "EXTRA=x", name, "sh", "-c", 'printf "%s|%s" "$SPECVAR" "$EXTRA"')
        assert r.out == "from spec|x", r

        sbx.ok("stop", name, timeout=120)
        assert sbx.status(name) == "stopped"
        assert not (sbx.vm_dir(name) / "vm.json").exists() or not pid_alive(
            (sbx.vm_json(name) or {}).get("qemu_pid", 0))
    finally:
        sbx.sbx("rm", "-f", name, timeout=120)


def test_root_disk_persists_across_stop_and_vanishes_with_rm(sbx):
    ws = sbx.workspace()
    name = "persist"
    token = secrets.token_hex(12)
    sbx.ok("run", "-d", "--name", name, "shell", ws, timeout=300)
    try:
        sbx.ok("exec", name, "sh", "-c", f"echo {token} > /home/agent/persist")
        sbx.ok("exec", name, "sh", "-c", f"echo {token} | sudo -n tee /var/tmp/rootfile >/dev/null")
        sbx.ok("exec", name, "sh", "-c", "echo gone > /tmp/tmpfile")
        sbx.ok("stop", name, timeout=120)
        assert sbx.status(name) == "stopped"
        # exec starts a stopped sandbox; the root disk kept both files, /tmp is fresh.
        r = sbx.ok("exec", name, "cat", "/home/agent/persist", "/var/tmp/rootfile", timeout=300)
        assert r.out == f"{token}\n{token}\n", r
        assert sbx.sbx("exec", name, "test", "-e", "/tmp/tmpfile").rc == 1
        assert sbx.status(name) == "running"

        # rm without -f refuses a running sandbox and changes nothing.
        r = sbx.sbx("rm", name, timeout=120)
        assert r.rc != 0 and r.err.strip(), r
        assert sbx.status(name) == "running"

        pids = _vm_pids(sbx, name)
        sbx.ok("rm", "-f", name, timeout=120)
        _assert_gone(sbx, name, pids)

        # Same name, same workspace: a new root disk.
        sbx.ok("run", "-d", "--name", name, "shell", ws, timeout=300)
        r = sbx.sbx("exec", name, "cat", "/home/agent/persist")
        assert r.rc != 0 and token not in r.out, r
        r = sbx.sbx("exec", name, "test", "-e", "/var/tmp/rootfile")
        assert r.rc == 1, r

        # rm of a stopped sandbox needs no -f.
        sbx.ok("stop", name, timeout=120)
        sbx.ok("rm", name, timeout=120)
        assert not sbx.sandbox_dir(name).exists()
        assert name not in sbx.names()
    finally:
        sbx.sbx("rm", "-f", name, timeout=120)


def test_default_name_and_guest_kernel(fresh):
    ws = fresh.workspace("proj-uname")
    r = fresh.sbx("run", "shell", "--", "uname", "-r", cwd=ws, timeout=300)
    assert r.rc == 0, f"{r!r}\n{fresh.diag()}"
    assert r.out.strip() and r.out.strip() != os.uname().release, r
    info = fresh.ls_json()
    assert list(info) == ["shell-proj-uname"], info
    assert info["shell-proj-uname"]["workspace"] == str(ws.resolve())
    # A second run from the same directory reuses the sandbox.
    r = fresh.sbx("run", "shell", "--", "true", cwd=ws, timeout=300)
    assert r.rc == 0, r
    assert list(fresh.ls_json()) == ["shell-proj-uname"]
    # PATH argument, relative to cwd.
    r = fresh.sbx("run", "shell", "proj-uname", "--", "pwd", cwd=fresh.base, timeout=300)
    assert r.rc == 0 and r.out.strip() == str(ws.resolve()), r
    assert list(fresh.ls_json()) == ["shell-proj-uname"]


def test_default_name_is_sanitised(sbx):
    ws = sbx.workspace("My Proj!.")
    before = set(sbx.names())
    sbx.ok("create", "shell", ws, timeout=120)
    new = set(sbx.names()) - before
    try:
        assert len(new) == 1, new
        (name,) = new
        assert NAME_RE.match(name) and name.startswith("shell-"), name
    finally:
        for n in new:
            sbx.sbx("rm", n, timeout=120)


def test_concurrent_creates_do_not_corrupt_state(fresh):
    ws = fresh.workspace()
    others = [fresh.workspace() for _ in range(3)]
    results = {}
    same = []

    def one(name):
        results[name] = fresh.sbx("create", "--name", name, "shell", ws, timeout=180)

    def one_same(w):
        same.append(fresh.sbx("create", "--name", "same", "shell", w, timeout=180))

    names = [f"cc{i}" for i in range(4)]
    threads = [threading.Thread(target=one, args=(n,)) for n in names]
    threads += [threading.Thread(target=one_same, args=(w,)) for w in others]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for n in names:
        assert results[n].rc == 0, results[n]
    # One name, three workspaces at once: exactly one wins, the others say why.
    assert sorted(r.rc == 0 for r in same) == [False, False, True], same
    for r in same:
        assert r.rc == 0 or "same" in r.err, r
    assert sorted(fresh.names()) == sorted(names + ["same"])
    winner = [r for r in same if r.rc == 0][0]
    assert fresh.ls_json()["same"]["workspace"] == winner.args[-1]
    for n in names + ["same"]:
        json.loads((fresh.sandbox_dir(n) / "spec.json").read_text())
    # Creating an existing sandbox again with the same workspace is harmless.
    r = fresh.sbx("create", "--name", "cc0", "shell", ws, timeout=60)
    assert r.rc == 0, r


def test_daemon_socket_private(fresh):
    fresh.ok("daemon", "start", timeout=60)
    sock = fresh.run_dir / "sbxd.sock"
    assert stat.S_ISSOCK(sock.lstat().st_mode)
    assert stat.S_IMODE(sock.lstat().st_mode) & 0o077 == 0, oct(sock.lstat().st_mode)
    assert stat.S_IMODE(fresh.run_dir.stat().st_mode) & 0o077 == 0


# Connects to the socket in argv[1] and says what sbxd did with the connection.
_PEER_PROBE = r"""
import socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
except OSError as e:
    print("connect failed:", e)
    sys.exit(0)
s.settimeout(float(sys.argv[2]))
try:
    print("closed" if s.recv(1) == b"" else "data")
except ConnectionResetError:
    print("closed")
except socket.timeout:
    print("open")
"""


def _peer_probe(sock, timeout, user=None):
    kw = {}
    if user:
        kw = dict(user=user.pw_uid, group=user.pw_gid, extra_groups=[])
    r = subprocess.run([sys.executable, "-c", _PEER_PROBE, str(sock), str(timeout)], capture_output=True,
                       text=True, timeout=60, **kw)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_daemon_refuses_another_uid(fresh):
    """Behind the socket's mode, sbxd checks its peer's uid (SO_PEERCRED): a client of
    another uid that reaches the socket anyway (its mode and directories opened up here on
    purpose) is disconnected at once, and the owner is still served by the same daemon."""
    if os.getuid() != 0:
        pytest.skip("running a client as another user needs root")
    try:
        other = pwd.getpwnam("sbxtest")
    except KeyError:
        other = pwd.getpwnam("nobody")
    fresh.ok("daemon", "start", timeout=60)
    pid = fresh.daemon_pid()
    sock = fresh.run_dir / "sbxd.sock"
    for d in sock.parents:
        if d.stat().st_mode & 0o001 == 0:
            if fresh.home not in (d, *d.parents):
                pytest.skip(f"{d} is not searchable by {other.pw_name}")
            os.chmod(d, stat.S_IMODE(d.stat().st_mode) | 0o001)
    os.chmod(sock, 0o666)
    # the probe tells an open connection from one sbxd closed: the owner's stays open
    assert _peer_probe(sock, 1) == "open"
    assert _peer_probe(sock, 10, other) == "closed"
    assert f"refused a client (uid {other.pw_uid}, pid " in (fresh.state_dir / "sbxd.log").read_text()
    fresh.ok("daemon", "status", timeout=30)
    assert fresh.daemon_pid() == pid and pid_alive(pid)


def test_daemon_start_status_stop(fresh):
    fresh.ok("daemon", "start", timeout=60)
    pid = fresh.daemon_pid()
    assert pid and pid_alive(pid)
    fresh.ok("daemon", "status", timeout=30)
    # A second start is harmless and keeps the same daemon.
    fresh.ok("daemon", "start", timeout=60)
    assert fresh.daemon_pid() == pid
    fresh.ok("daemon", "stop", timeout=60)
    assert wait_until(lambda: not pid_alive(pid), 15)
    r = fresh.sbx("daemon", "status", timeout=30)
    assert r.rc != 0, r
    # Any command that needs the daemon starts it again.
    fresh.ok("ls", timeout=60)
    assert fresh.daemon_pid() and pid_alive(fresh.daemon_pid())


def test_daemon_kill9_readopts_running_vm(fresh):
    ws = fresh.workspace()
    fresh.ok("run", "-d", "--name", "adopt", "shell", ws, timeout=300)
    fresh.ok("exec", "adopt", "sh", "-c", "echo before > /tmp/boot-marker")
    qemu_pid, qemu_start = _vm_pids(fresh, "adopt")[0]
    dpid = fresh.daemon_pid()
    assert dpid and pid_alive(dpid)
    os.kill(dpid, signal.SIGKILL)
    assert wait_until(lambda: not pid_alive(dpid), 10)
    # The VM outlived its daemon.
    assert pid_alive(qemu_pid, qemu_start)
    r = fresh.sbx("exec", "adopt", "cat", "/tmp/boot-marker", timeout=120)
    assert r.rc == 0 and r.out == "before\n", f"{r!r}\n{fresh.diag()}"
    new = fresh.daemon_pid()
    assert new and new != dpid and pid_alive(new)
    # Same QEMU process: re-adopted, not rebooted (/tmp is a tmpfs in the guest).
    assert _vm_pids(fresh, "adopt")[0] == (qemu_pid, qemu_start)
    assert fresh.status("adopt") == "running"
    r = fresh.sbx("exec", "-i", "adopt", "cat", input=b"after-restart", timeout=60)
    assert r.rc == 0 and r.out == "after-restart", r
    pids = _vm_pids(fresh, "adopt")
    fresh.ok("rm", "-f", "adopt", timeout=120)
    _assert_gone(fresh, "adopt", pids)


def test_qemu_kill9_shows_stopped_then_runs_again(fresh):
    ws = fresh.workspace()
    fresh.ok("run", "-d", "--name", "crash", "shell", ws, timeout=300)
    (qpid, qstart), (vpid, vstart) = _vm_pids(fresh, "crash")
    os.kill(qpid, signal.SIGKILL)
    assert fresh.wait_status("crash", "stopped", 20), f"{fresh.ls_json()}\n{fresh.diag()}"
    # Its virtiofsd does not linger.
    assert wait_until(lambda: not pid_alive(vpid, vstart), 20), "virtiofsd left running"
    r = fresh.sbx("run", "--name", "crash", "shell", ws, "--", "echo", "back", timeout=300)
    assert r.rc == 0 and r.out == "back\n", f"{r!r}\n{fresh.diag()}"
    assert fresh.status("crash") == "running"
    new_qpid = _vm_pids(fresh, "crash")[0][0]
    assert new_qpid != qpid or proc_starttime(new_qpid) != qstart
    r = fresh.sbx("exec", "crash", "true", timeout=60)
    assert r.rc == 0, r


def test_rm_all(fresh):
    ws1, ws2 = fresh.workspace(), fresh.workspace()
    fresh.ok("create", "--name", "a1", "shell", ws1, timeout=120)
    fresh.ok("create", "--name", "a2", "shell", ws2, timeout=120)
    fresh.ok("run", "-d", "--name", "a3", "shell", ws2, timeout=300)
    pids = _vm_pids(fresh, "a3")
    # QEMU and virtiofsd (with its namespace child) of a3.
    assert len(fresh.vm_processes()) >= 2, fresh.vm_processes()
    fresh.ok("rm", "-f", "--all", timeout=180)
    assert fresh.names() == []
    assert wait_until(lambda: not fresh.vm_processes(), 15), fresh.vm_processes()
    for n in ("a1", "a2"):
        assert not fresh.sandbox_dir(n).exists()
    _assert_gone(fresh, "a3", pids)


def test_stop_is_graceful_and_leaves_no_process(fresh):
    ws = fresh.workspace()
    fresh.ok("run", "-d", "--name", "gstop", "shell", ws, timeout=300)
    pids = _vm_pids(fresh, "gstop")
    fresh.ok("exec", "gstop", "sh", "-c", "head -c 20000000 /dev/urandom > /home/agent/blob")
    fresh.ok("stop", "gstop", timeout=120)
    for pid, start in pids:
        assert wait_until(lambda: not pid_alive(pid, start), 10), f"{pid} alive after stop"
    assert fresh.status("gstop") == "stopped"
    assert not (fresh.vm_dir("gstop") / "ctl.sock").exists()
    # The guest synced and shut down: the overlay is consistent.
    disk = fresh.sandbox_dir("gstop") / "disk.qcow2"
    cp = subprocess.run(["qemu-img", "check", str(disk)], capture_output=True, text=True)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    r = fresh.sbx("exec", "gstop", "stat", "-c", "%s", "/home/agent/blob", timeout=300)
    assert r.rc == 0 and r.out.strip() == "20000000", r


def test_daemon_stop_returns_once_the_daemon_is_gone(fresh):
    """`sbx daemon stop` returns only when the old sbxd has exited (its socket closed
    first), so the next command starts a fresh daemon instead of reaching the one
    that is going ("lost the connection to sbxd: Broken pipe")."""
    for _ in range(5):
        fresh.ok("ls", timeout=60)
        old = fresh.daemon_pid()
        assert old and pid_alive(old)
        assert fresh.ok("daemon", "stop", timeout=60).out.startswith("sbxd stopped")
        assert not pid_alive(old), old
        assert not (fresh.run_dir / "sbxd.sock").exists()
        r = fresh.sbx("ls", timeout=60)
        assert r.rc == 0 and "Broken pipe" not in r.err, r

