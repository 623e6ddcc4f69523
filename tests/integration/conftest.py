# SPDX-License-Identifier: MIT
# conftest.py: fixtures that run the real build/sbx against real VMs, each in its own SBX_HOME.
"""Integration test support for sbx.

Every SbxHome is a fresh temporary directory whose ``cache`` entry is a symlink
to one shared cache (``$SBX_TEST_CACHE``, else ``$XDG_CACHE_HOME/sbx`` or
``~/.cache/sbx``), so the guest kernel and the ``minimal`` template are built
once and reused. Each home is torn down at the end even when tests fail:
``sbx rm -f --all``, ``sbx daemon stop``, then every qemu/virtiofsd recorded in
``run/vms/*/vm.json`` and the daemon from ``run/sbxd.pid`` is killed by PID
(after checking the PID still names the process sbx recorded), then the
directory is removed.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SBX_BIN = Path(os.environ.get("SBX_BIN", REPO / "build" / "sbx")).resolve()
# The full program SBX_BIN (the front, src/host/cli/front.c) hands most commands and
# the daemon to, where the front looks for it: beside it (build/), or PREFIX/lib/sbx/.
FULL_BIN = next((p for p in (SBX_BIN.parent / "sbx-full", SBX_BIN.parent.parent / "lib" / "sbx" / "sbx-full")
                 if p.exists()), SBX_BIN.parent / "sbx-full")
# Keep temp paths short: QEMU and virtiofsd take unix socket paths (108 bytes).
TMP_BASE = os.environ.get("SBX_TEST_TMP", "/tmp")
DEFAULT_TIMEOUT = 240
TEMPLATE = "minimal"


def shared_cache_dir():
    if os.environ.get("SBX_TEST_CACHE"):
        return Path(os.environ["SBX_TEST_CACHE"])
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "sbx"


def agent_uid():
    """uid of user `agent` in the guest: the host user's, 1000 for root."""
    uid = os.getuid()
    return 1000 if uid == 0 else uid


def agent_gid():
    gid = os.getgid()
    return 1000 if os.getuid() == 0 else gid


def chown_to_agent(path):
    """Give a tree to the guest agent's uid when the tests run as root (a project the
    agent may write to, as in SbxHome.workspace)."""
    if os.getuid() != 0:
        return
    for root, dirs, files in os.walk(path):
        for n in dirs + files:
            os.lchown(os.path.join(root, n), agent_uid(), agent_gid())
    os.lchown(path, agent_uid(), agent_gid())


# --- processes -----------------------------------------------------------

def proc_starttime(pid):
    """Field 22 of /proc/PID/stat (clock ticks since boot), None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode("ascii", "replace")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    rest = data[data.rfind(")") + 2:].split()
    # rest[0] is field 3 (state); field 22 is rest[19].
    return int(rest[19])


def proc_state(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode("ascii", "replace")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return data[data.rfind(")") + 2:].split()[0]


def pid_alive(pid, start=None):
    """True while pid exists, is not a zombie, and (if given) has that start time."""
    if not pid or pid <= 0:
        return False
    st = proc_state(pid)
    if st is None or st in ("Z", "X"):
        return False
    if start is not None and proc_starttime(pid) != start:
        return False
    return True


def wait_until(pred, timeout, interval=0.1):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def kill_pid(pid, start=None, sig=signal.SIGKILL):
    if pid_alive(pid, start):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def proc_cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def http_reply(handler, body, status=200):
    """A fake upstream's whole reply to one request: status, Content-Length, body (bytes)."""
    handler.send_response(status)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def sbxd_frame(ftype, stream, payload=b""):
    """One frame of sbxd's socket (src/common/frame.h): u32 length, u16 type, u16
    flags, u32 stream, then the payload."""
    import struct
    return struct.pack("<IHHI", len(payload), ftype, 0, stream) + payload


def fake_sbxd(home, on_frame):
    """A stand-in for sbxd on HOME/run/sbxd.sock, for client tests without a daemon:
    every frame a client sends is handed to on_frame(conn, ftype, stream, payload, n),
    n counting the connections from 0, on that connection's thread. Returns the
    listening socket: close it to stop accepting."""
    import socket
    import struct
    import threading
    run_dir = home / "run"
    run_dir.mkdir(parents=True, mode=0o700)
    lsock = socket.socket(socket.AF_UNIX)
    lsock.bind(str(run_dir / "sbxd.sock"))
    lsock.listen(4)

    def serve(c, n):
        buf = b""
        with c:
            while True:
                d = c.recv(65536)
                if not d:
                    return
                buf += d
                while len(buf) >= 12:
                    size, ftype, _, stream = struct.unpack("<IHHI", buf[:12])
                    if len(buf) < 12 + size:
                        break
                    payload, buf = buf[12:12 + size], buf[12 + size:]
                    on_frame(c, ftype, stream, payload, n)

    def accept():
        n = 0
        while True:
            try:
                c, _ = lsock.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(c, n), daemon=True).start()
            n += 1

    threading.Thread(target=accept, daemon=True).start()
    return lsock


def proc_environ(pid):
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


# --- one SBX_HOME --------------------------------------------------------

class Result:
    def __init__(self, args, cp):
        self.args = args
        self.rc = cp.returncode
        self.out_b = cp.stdout if cp.stdout is not None else b""
        self.err_b = cp.stderr if cp.stderr is not None else b""
        self.out = self.out_b.decode("utf-8", "replace")
        self.err = self.err_b.decode("utf-8", "replace")

    def __repr__(self):
        return (f"sbx {' '.join(self.args)} -> rc={self.rc}\n"
                f"--- stdout ---\n{self.out[-3000:]}\n--- stderr ---\n{self.err[-3000:]}")


class SbxHome:
    """A private SBX_HOME with helpers around build/sbx."""

    def __init__(self, label="it", policy="balanced", tmp_base=None, pool=0):
        self.base = Path(tempfile.mkdtemp(prefix=f"sbx{label}-", dir=tmp_base or TMP_BASE))
        # Workspaces live under base: virtiofsd may run as an unprivileged uid
        # and must be able to walk down to them.
        os.chmod(self.base, 0o755)
        self.home = self.base / "h"
        self.home.mkdir(mode=0o700)
        cache = shared_cache_dir()
        cache.mkdir(parents=True, exist_ok=True)
        (self.home / "cache").symlink_to(cache)
        self.env = dict(os.environ)
        self.env["SBX_HOME"] = str(self.home)
        self.env["NO_COLOR"] = "1"
        self.env.pop("SBX_TEST_CACHE", None)
        self._ws_count = 0
        self.closed = False
        # The warm pool (docs/warm-pool.md) is off unless a test asks for it: a pool
        # VM per test home would double the boots of the whole suite.
        subprocess.run([str(SBX_BIN), "settings", "set", "pool.size", str(pool)], env=self.env,
                       check=True, stdout=subprocess.DEVNULL, timeout=30)
        if policy:
            # sbx run/create refuse to start before a network policy is chosen.
            subprocess.run([str(SBX_BIN), "policy", "init", policy], env=self.env, check=True,
                           stdout=subprocess.DEVNULL, timeout=30)

    # paths
    @property
    def run_dir(self):
        return self.home / "run"

    @property
    def state_dir(self):
        return self.home / "state"

    def vm_dir(self, name):
        return self.run_dir / "vms" / name

    def sandbox_dir(self, name):
        return self.state_dir / "sandboxes" / name

    def vm_json(self, name):
        p = self.vm_dir(name) / "vm.json"
        try:
            return json.loads(p.read_text())
        except (OSError, ValueError):
            return None

    def daemon_pid(self):
        try:
            return int((self.run_dir / "sbxd.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def workspace(self, name=None):
        """A new empty workspace directory (mode 0755) under this home's base dir.

        When the tests run as root, the guest's agent is uid/gid 1000 and sbx maps
        only that id (and unprivileged ones) into virtiofsd's user namespace: the
        workspace belongs to it, as a root user's project would have to.
        """
        self._ws_count += 1
        ws = self.base / (name or f"ws{self._ws_count}")
        ws.mkdir(mode=0o755)
        os.chmod(ws, 0o755)
        if os.getuid() == 0:
            os.chown(ws, agent_uid(), agent_gid())
        return ws

    # running sbx
    def sbx(self, *args, input=None, timeout=DEFAULT_TIMEOUT, cwd=None, env=None, stdin=None):
        args = [str(a) for a in args]
        e = self.env if env is None else {**self.env, **env}
        if input is not None:
            stdin_arg = None
        elif stdin is not None:
            stdin_arg = stdin
        else:
            stdin_arg = subprocess.DEVNULL
        cp = subprocess.run([str(SBX_BIN), *args], input=input, stdin=stdin_arg,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            timeout=timeout, cwd=cwd, env=e)
        return Result(args, cp)

    def ok(self, *args, **kw):
        r = self.sbx(*args, **kw)
        assert r.rc == 0, f"{r!r}\n{self.diag()}"
        return r

    def popen(self, *args, **kw):
        kw.setdefault("stdin", subprocess.DEVNULL)
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        return subprocess.Popen([str(SBX_BIN), *map(str, args)], env=self.env, **kw)

    def ls_json(self):
        r = self.ok("ls", "--json", timeout=60)
        data = json.loads(r.out)
        assert isinstance(data, list), r
        return {d["name"]: d for d in data}

    def status(self, name):
        d = self.ls_json().get(name)
        return d["status"] if d else None

    def wait_status(self, name, want, timeout=30):
        return wait_until(lambda: self.status(name) == want, timeout, interval=0.5)

    def names(self):
        return sorted(n for n in self.ok("ls", "-q", timeout=60).out.split())

    def diag(self):
        """Tail of the daemon log and of every console log, for assertion messages."""
        parts = []
        log = self.state_dir / "sbxd.log"
        for p in [log, *sorted((self.state_dir / "sandboxes").glob("*/console.log"))]:
            try:
                txt = p.read_text(errors="replace")
            except OSError:
                continue
            parts.append(f"--- {p} (tail) ---\n" + "\n".join(txt.splitlines()[-25:]))
        return "\n".join(parts)

    # teardown
    def recorded_pids(self):
        """(pid, start) of every process sbx recorded for this home."""
        out = []
        for vj in [*(self.run_dir / "vms").glob("*/vm.json"), *(self.run_dir / "pool").glob("*/vm.json")]:
            try:
                d = json.loads(vj.read_text())
            except (OSError, ValueError):
                continue
            for k in ("qemu", "vfsd"):
                pid = d.get(f"{k}_pid")
                if isinstance(pid, int) and pid > 0:
                    out.append((pid, d.get(f"{k}_start")))
        dp = self.daemon_pid()
        if dp:
            out.append((dp, None))
        return out

    def stray_pids(self):
        """Processes whose argv names this test dir or whose environment has this SBX_HOME.

        Only processes the tests started match: sbx clients and the daemon (by
        SBX_HOME), QEMU (disk and console paths) and virtiofsd (workspace path).
        """
        me = str(self.base).encode()
        home_env = b"SBX_HOME=" + str(self.home).encode()
        found = []
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            pid = int(d)
            if pid == os.getpid():
                continue
            args = proc_cmdline(pid)
            env = proc_environ(pid)
            if any(me in a for a in args) or home_env in env:
                if pid_alive(pid):
                    found.append(pid)
        return found

    def vm_processes(self):
        """QEMU and virtiofsd processes of this home (their argv names its paths)."""
        out = []
        for pid in self.stray_pids():
            try:
                exe = os.path.basename(os.readlink(f"/proc/{pid}/exe"))
            except OSError:
                continue
            if exe.startswith("qemu-system") or exe == "virtiofsd":
                out.append(pid)
        return out

    def close(self):
        if self.closed:
            return
        self.closed = True
        try:
            if SBX_BIN.exists():
                for args in (("rm", "-f", "--all"), ("daemon", "stop")):
                    try:
                        self.sbx(*args, timeout=120)
                    except subprocess.TimeoutExpired:
                        pass
        finally:
            for pid, start in self.recorded_pids():
                if pid != os.getpid():
                    kill_pid(pid, start if isinstance(start, int) else None)
            for pid in self.stray_pids():
                kill_pid(pid)
            wait_until(lambda: not self.stray_pids(), 10)
            try:
                (self.home / "cache").unlink()
            except OSError:
                pass
            shutil.rmtree(self.base, ignore_errors=True)


_homes = []


def new_home(label="it", policy="balanced", tmp_base=None, pool=0):
    h = SbxHome(label, policy=policy, tmp_base=tmp_base, pool=pool)
    _homes.append(h)
    return h


@pytest.fixture(scope="session", autouse=True)
def _cleanup_all_homes():
    """Session-wide finalizer: tear down every SbxHome, even on failure."""
    yield
    for h in reversed(_homes):
        h.close()


@pytest.fixture(scope="session")
def sbx_bin():
    if not SBX_BIN.exists():
        pytest.fail(f"{SBX_BIN} missing: run `make` first")
    return SBX_BIN


@pytest.fixture(scope="session")
def sbx(sbx_bin):
    """The session's SbxHome, with the minimal template present in the shared cache."""
    h = new_home("it")
    r = h.sbx("template", "ls", timeout=60)
    if r.rc != 0 or not re.search(rf"^\s*{TEMPLATE}\b", r.out, re.M):
        h.ok("template", "build", TEMPLATE, timeout=3600)
    return h


@pytest.fixture
def fresh(sbx_bin, sbx):
    """A private SbxHome for one test (own daemon), torn down right after it."""
    h = new_home("f")
    yield h
    h.close()


@pytest.fixture(scope="session")
def box(sbx):
    """One running sandbox shared by the tests that only exec into it."""
    ws = sbx.workspace("boxws")
    name = "itbox"
    sbx.ok("run", "-d", "--name", name, "shell", ws, timeout=300)
    assert sbx.status(name) == "running", sbx.diag()
    return Box(sbx, name, ws)


class Box:
    def __init__(self, home, name, ws):
        self.home = home
        self.name = name
        self.ws = ws

    def exec(self, *cmd, opts=(), **kw):
        return self.home.sbx("exec", *opts, self.name, *cmd, **kw)

    def ok(self, *cmd, opts=(), **kw):
        r = self.exec(*cmd, opts=opts, **kw)
        assert r.rc == 0, f"{r!r}\n{self.home.diag()}"
        return r


# A python3 program the tests run in the guest (sbx exec ... python3 -c WATCH PATH KIND
# WANT): prints "ready" once it has looked, then "seen" as soon as PATH's content, absence
# ("gone") or "meta" (mtime and mode, or a symlink's target) is WANT, or "timeout" after 10 s.
GUEST_WATCH = r"""
import os, sys, time
path, kind, want = sys.argv[1:4]
def ok():
    try:
        if kind == "content":
            with open(path) as f:
                return f.read() == want
        if kind == "gone":
            return not os.path.lexists(path)
        if kind == "meta":
            st = os.lstat(path)
            if os.path.islink(path):
                return "link " + os.readlink(path) == want
            return "%d %o" % (int(st.st_mtime), st.st_mode & 0o7777) == want
    except OSError:
        return False
ok()
print("ready", flush=True)
t = time.monotonic()
while time.monotonic() - t < 10:
    if ok():
        print("seen", flush=True)
        sys.exit(0)
    time.sleep(0.02)
print("timeout", flush=True)
sys.exit(1)
"""

def host_change_seen(box, path, kind, want, change):
    """Seconds from the host's change to the guest seeing it."""
    p = box.home.popen("exec", box.name, "python3", "-c", GUEST_WATCH, str(path), kind, want)
    try:
        assert p.stdout.readline().strip() == b"ready", p.stderr.read()
        t0 = time.monotonic()
        change()
        line = p.stdout.readline().strip()
        dt = time.monotonic() - t0
        assert line == b"seen", (line, p.stderr.read())
        return dt
    finally:
        if p.poll() is None:
            p.kill()
        p.wait()
        p.stdout.close()
        p.stderr.close()
