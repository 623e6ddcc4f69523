# SPDX-License-Identifier: MIT
# test_wsync.py: --workspace-mode sync (docs/workspace-sync.md): the guest works on a copy
# on its own disk, kept in step with the host both ways.
"""Bounds under TCG: a guest change is on the host when `sbx exec` returns (the flush
barrier) and within GUEST_TO_HOST_S while a command runs (0.15-0.7 s debounce plus the
copy); a host change is in the guest within HOST_TO_GUEST_S (sbxd's inotify, the channel,
the engine's 0.15 s debounce)."""
import json
import os
import secrets
import signal
import stat
import subprocess
import time

import pytest

from conftest import chown_to_agent, host_change_seen, wait_until

HOST_TO_GUEST_S = 1.5
GUEST_TO_HOST_S = 2.0


# The engine's pid, from the guest's /proc (as root)
ENGINE_PID = "for p in /proc/[0-9]*; do [ \"$(cat $p/comm 2>/dev/null)\" = sbx-wsync ] && echo ${p#/proc/}; done"


class SyncBox:
    def __init__(self, home, name, ws):
        self.home, self.name, self.ws = home, name, ws

    def ok(self, *cmd, user=None):
        opts = ("-u", user) if user else ()
        r = self.home.sbx("exec", *opts, self.name, *cmd)
        assert r.rc == 0, f"{r!r}\n{self.home.diag()}"
        return r

    def status(self):
        r = self.home.ok("sync", "status", self.name, "--json")
        return json.loads(r.out)


def make_sync_box(home, label):
    ws = home.workspace(label)
    (ws / "pre.txt").write_text("from the host before start\n")
    chown_to_agent(ws / "pre.txt")
    name = f"{label}-{secrets.token_hex(3)}"
    home.ok("run", "-d", "--workspace-mode", "sync", "--name", name, "shell", ws, timeout=300)
    assert home.status(name) == "running", home.diag()
    return SyncBox(home, name, ws)


@pytest.fixture(scope="module")
def sbox(sbx):
    b = make_sync_box(sbx, "wsync")
    yield b
    sbx.sbx("rm", "-f", b.name, timeout=120)


def subdir(box, label):
    d = box.ws / f"{label}-{secrets.token_hex(4)}"
    d.mkdir()
    chown_to_agent(d)
    return d


def test_mode_shown_and_the_workspace_is_a_local_copy(sbox):
    d = sbox.home.ls_json()[sbox.name]
    assert d["workspace_mode"] == "sync"
    assert (sbox.home.sandbox_dir(sbox.name) / "spec.json").read_text().count('"workspace_mode": "sync"') == 1 or \
        json.loads((sbox.home.sandbox_dir(sbox.name) / "spec.json").read_text())["workspace_mode"] == "sync"
    # the host's file was copied before the first command ran
    assert sbox.ok("cat", sbox.ws / "pre.txt").out == "from the host before start\n"
    # the workspace in the guest is on the VM's disk, not virtiofs
    fs = sbox.ok("stat", "-f", "-c", "%T", sbox.ws).out.strip()
    assert fs != "virtiofs" and fs != "fuseblk", fs
    # the share itself is out of the agent's reach
    r = sbox.home.sbx("exec", sbox.name, "ls", "/run/sbx/share")
    assert r.rc != 0, r
    assert "[sync]" in sbox.home.ok("ls").out


def test_unknown_mode_is_an_error(sbx):
    ws = sbx.workspace("wsbad")
    r = sbx.sbx("create", "--workspace-mode", "bogus", "--name", "wsbad", "shell", ws)
    assert r.rc == 2, r
    assert "--workspace-mode 'bogus'" in r.err and "share or sync" in r.err, r
    assert "wsbad" not in sbx.ls_json()


def test_guest_write_rename_delete_on_host_when_exec_returns(sbox):
    d = subdir(sbox, "g2h")
    time.sleep(1.0)   # the new directory reaches the guest
    sbox.ok("sh", "-c", f"cd {d} && printf one > a && printf two > b && mkdir -p x/y && printf deep > x/y/z")
    assert (d / "a").read_text() == "one" and (d / "b").read_text() == "two"
    assert (d / "x/y/z").read_text() == "deep"
    sbox.ok("sh", "-c", f"cd {d} && printf ' more' >> a && mv b c && mv x w")
    assert (d / "a").read_text() == "one more"
    assert not (d / "b").exists() and (d / "c").read_text() == "two"
    assert not (d / "x").exists() and (d / "w/y/z").read_text() == "deep"
    sbox.ok("rm", "-r", f"{d}/c", f"{d}/w")
    assert not (d / "c").exists() and not (d / "w").exists()


def test_guest_write_seen_on_host_while_command_runs(sbox):
    d = subdir(sbox, "run")
    time.sleep(1.0)
    p = sbox.home.popen("exec", sbox.name, "sh", "-c",
                        f"printf held > {d}/live.txt; echo written; sleep 20")
    try:
        assert p.stdout.readline().strip() == b"written"
        t0 = time.monotonic()
        assert wait_until(lambda: (d / "live.txt").exists() and (d / "live.txt").read_text() == "held",
                          GUEST_TO_HOST_S + 3, interval=0.02)
        dt = time.monotonic() - t0
        print(f"guest -> host while running: {dt:.3f} s")
        assert dt <= GUEST_TO_HOST_S, dt
    finally:
        p.kill()
        p.wait()
        p.stdout.close()
        p.stderr.close()


def test_host_write_rename_delete_seen_in_guest_within_bound(sbox):
    d = subdir(sbox, "h2g")
    f = d / "f.txt"
    f.write_text("old\n")
    assert wait_until(lambda: sbox.home.sbx("exec", sbox.name, "cat", f).out == "old\n", 10)
    times = {}
    times["write"] = host_change_seen(sbox, f, "content", "new\n", lambda: f.write_text("new\n"))
    g = d / "g.txt"
    times["create"] = host_change_seen(sbox, g, "content", "created\n", lambda: g.write_text("created\n"))
    r = d / "renamed.txt"
    times["rename"] = host_change_seen(sbox, r, "content", "created\n", lambda: os.rename(g, r))
    assert sbox.home.sbx("exec", sbox.name, "test", "-e", g).rc != 0, (os.listdir(d), sbox.home.diag())
    times["delete"] = host_change_seen(sbox, r, "gone", "", r.unlink)
    sub = d / "newdir"
    times["mkdir"] = host_change_seen(sbox, sub / "in.txt", "content", "in",
                                      lambda: (sub.mkdir(), (sub / "in.txt").write_text("in")))
    print("host -> guest, s:", {k: round(v, 3) for k, v in times.items()})
    slow = {k: round(v, 2) for k, v in times.items() if v > HOST_TO_GUEST_S}
    assert not slow, f"seen later than {HOST_TO_GUEST_S} s: {slow} (all: {times})"


def test_mtime_mode_symlink_survive_both_ways(sbox):
    d = subdir(sbox, "meta")
    time.sleep(1.0)
    sbox.ok("sh", "-c", f"cd {d} && printf x > g && chmod 0751 g && touch -m -d @1500000000 g "
                        "&& ln -s ../some/target glink && mkdir gd && chmod 0700 gd")
    st = os.stat(d / "g")
    assert int(st.st_mtime) == 1500000000 and stat.S_IMODE(st.st_mode) == 0o751, st
    assert os.readlink(d / "glink") == "../some/target"
    assert stat.S_IMODE(os.stat(d / "gd").st_mode) == 0o700
    h = d / "h"
    h.write_text("y")
    chown_to_agent(h)   # the engine reads as the agent, as the agent would through the share
    os.chmod(h, 0o640)
    assert wait_until(lambda: sbox.home.sbx("exec", sbox.name, "cat", h).out == "y", 10)

    def change():
        os.chmod(h, 0o604)
        os.utime(h, (1400000000, 1400000000))
    assert host_change_seen(sbox, h, "meta", "1400000000 604", change) <= HOST_TO_GUEST_S
    hl = d / "hlink"
    assert host_change_seen(sbox, hl, "meta", "link /abs/target",
                            lambda: os.symlink("/abs/target", hl)) <= HOST_TO_GUEST_S
    out = sbox.ok("stat", "-c", "%Y %a", d / "g", h).out.split("\n")
    assert out[0] == "1500000000 751" and out[1] == "1400000000 604", out


def agreed_file(box, label, name):
    """A new file on the host, "base\n", once the guest has it too."""
    d = subdir(box, label)
    f = d / name
    f.write_text("base\n")
    chown_to_agent(f)
    assert wait_until(lambda: box.home.sbx("exec", box.name, "cat", f).out == "base\n", 10)
    return d, f


def test_same_file_changed_on_both_sides_keeps_both(sbox):
    d, f = agreed_file(sbox, "conf", "both.txt")
    # hold the engine so that both changes happen before it looks
    p = sbox.home.popen("exec", "-i", "-u", "root", sbox.name, "sh", "-c",
                        f"pid=$({ENGINE_PID}); [ -n \"$pid\" ] || exit 3; kill -STOP $pid; "
                        f"runuser -u agent -- sh -c 'printf guest > {f}'; echo held; read x; kill -CONT $pid",
                        stdin=subprocess.PIPE)
    try:
        assert p.stdout.readline().strip() == b"held", p.stderr.read()
        f.write_text("host\n")
        time.sleep(0.5)   # sbxd sends the path while the engine is held
        p.stdin.write(b"go\n")
        p.stdin.flush()
        assert p.wait(timeout=60) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        for s in (p.stdin, p.stdout, p.stderr):
            s.close()
    sbox.home.ok("sync", "flush", sbox.name)
    # the host's version stays at the path, the guest's is kept beside it, on both sides
    assert f.read_text() == "host\n"
    kept = [x for x in os.listdir(d) if x.startswith("both.txt.sbx-conflict-guest-")]
    assert len(kept) == 1, os.listdir(d)
    assert (d / kept[0]).read_text() == "guest"
    assert sbox.ok("cat", f).out == "host\n"
    assert sbox.ok("cat", d / kept[0]).out == "guest"
    st = sbox.status()
    assert st["sync"]["conflicts"] >= 1, st
    assert any("conflict" in x and "both.txt" in x for x in st["sync"]["recent"]), st
    out = sbox.home.ok("sync", "status", sbox.name).out
    assert "conflicts:" in out and "both.txt" in out, out


def test_guest_symlink_outside_is_copied_never_followed(sbox, tmp_path):
    d = subdir(sbox, "esc")
    outside = sbox.home.base / f"outside-{secrets.token_hex(3)}"
    outside.mkdir()
    (outside / "secret.txt").write_text("host secret\n")
    time.sleep(1.0)
    sbox.ok("sh", "-c", f"cd {d} && ln -s {outside} out && ln -s /etc/passwd pw && ln -s / root")
    assert os.readlink(d / "out") == str(outside)
    assert os.readlink(d / "pw") == "/etc/passwd"
    assert os.path.islink(d / "root")
    # a host change behind the link: sbxd's watcher never went there, the guest holds a link
    (outside / "new.txt").write_text("new\n")
    time.sleep(2.0)
    assert sbox.ok("sh", "-c", f"test -L {d}/out && echo link").out.strip() == "link"
    assert sbox.home.sbx("exec", sbox.name, "test", "-e", f"{outside}/new.txt").rc != 0
    assert sorted(os.listdir(outside)) == ["new.txt", "secret.txt"]


def test_stop_host_edit_start_guest_sees_it(fresh):
    b = make_sync_box(fresh, "wsstop")
    b.ok("sh", "-c", f"printf guest > {b.ws}/g.txt")
    fresh.ok("stop", b.name, timeout=120)
    assert (b.ws / "g.txt").read_text() == "guest"
    (b.ws / "pre.txt").write_text("edited while stopped\n")
    (b.ws / "h.txt").write_text("new while stopped\n")
    fresh.ok("run", "-d", "--name", b.name, "shell", b.ws, timeout=300)
    assert b.ok("cat", b.ws / "pre.txt").out == "edited while stopped\n"
    assert b.ok("cat", b.ws / "h.txt").out == "new while stopped\n"
    assert b.ok("cat", b.ws / "g.txt").out == "guest"


def test_rm_after_guest_write_keeps_it_on_host(fresh):
    b = make_sync_box(fresh, "wsrm")
    p = fresh.popen("exec", b.name, "sh", "-c", f"printf unsynced > {b.ws}/late.txt; echo written; sleep 60")
    try:
        assert p.stdout.readline().strip() == b"written"
        fresh.ok("rm", "-f", b.name, timeout=120)
    finally:
        p.kill()
        p.wait()
        p.stdout.close()
        p.stderr.close()
    assert (b.ws / "late.txt").read_text() == "unsynced"


def test_protected_git_paths_are_not_written_back(fresh):
    """wsguard's read-only .git/hooks and .git/config hold in sync mode: the guest's copy
    may change, the host's does not, and the refusal is reported, not a crash."""
    ws = fresh.workspace("wsgit")
    git = ["git", "-c", "safe.directory=*", "-C", str(ws)]
    subprocess.run(git + ["init", "-q", "-b", "main"], check=True, capture_output=True)
    subprocess.run(["rm", "-rf", str(ws / ".git" / "hooks")], check=True)
    subprocess.run(["chown", "-R", f"{os.stat(ws).st_uid}:{os.stat(ws).st_gid}", str(ws)], check=True)
    config = (ws / ".git" / "config").read_text()
    name = f"wsgit-{secrets.token_hex(3)}"
    fresh.ok("run", "-d", "--workspace-mode", "sync", "--name", name, "shell", ws, timeout=300)
    r = fresh.sbx("exec", name, "sh", "-c",
                  f"cd {ws} && mkdir -p .git/hooks && echo 'touch /tmp/pwned' > .git/hooks/post-checkout && "
                  "chmod +x .git/hooks/post-checkout && echo '[core] fsmonitor = evil' >> .git/config && "
                  "echo ok > fine.txt")
    assert r.rc == 0, (r, fresh.diag())
    assert (ws / "fine.txt").read_text() == "ok\n"
    assert not (ws / ".git" / "hooks" / "post-checkout").exists()
    assert (ws / ".git" / "config").read_text() == config
    st = json.loads(fresh.ok("sync", "status", name, "--json").out)["sync"]
    assert st["errors"] >= 1, st
    assert any("not-synced" in x and ".git/hooks/post-checkout" in x for x in st["recent"]), st
    assert any("not-synced" in x and ".git/config" in x for x in st["recent"]), st
    # the engine still runs: a later change reaches the host
    fresh.ok("exec", name, "sh", "-c", f"echo again > {ws}/later.txt")
    assert (ws / "later.txt").read_text() == "again\n"


# --- the host's writer (guest changes in batches over the channel) --------------------

def writer_pid(box):
    """The pid of the sync-mode writer serving box's workspace (its fds name it)."""
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            argv = open(f"/proc/{p}/cmdline", "rb").read().split(b"\0")
            if len(argv) < 2 or argv[1] != b"__wsync-writer":
                continue
            for fd in os.listdir(f"/proc/{p}/fd"):
                if os.readlink(f"/proc/{p}/fd/{fd}") == str(box.ws):
                    return int(p)
        except OSError:
            continue
    return None


def test_many_guest_files_are_on_host_when_exec_returns(sbox):
    d = subdir(sbox, "many")
    time.sleep(1.0)
    sbox.ok("sh", "-c", f"cd {d} && for i in $(seq 0 9); do mkdir -p s$i; for j in $(seq 0 49); do "
                        f"printf 'f %s %s' $i $j > s$i/f$j; done; done && ln -s s0/f0 top && chmod 0600 s1/f1")
    for i in range(10):
        for j in range(50):
            assert (d / f"s{i}/f{j}").read_text() == f"f {i} {j}"
    assert os.readlink(d / "top") == "s0/f0"
    assert stat.S_IMODE(os.stat(d / "s1/f1").st_mode) == 0o600
    sbox.ok("rm", "-rf", f"{d}/s3")
    assert not (d / "s3").exists()


def test_writer_is_jailed(sbox):
    """The writer runs as the workspace's owner (as share-mode files get), without
    capabilities or new privileges, in a mount namespace of its own (wsguard's binds)."""
    pid = writer_pid(sbox)
    assert pid, sbox.home.diag()
    status = dict(line.split(":\t", 1) for line in open(f"/proc/{pid}/status").read().splitlines()
                  if ":\t" in line)
    owner = os.stat(sbox.ws).st_uid if os.getuid() == 0 else os.getuid()
    assert status["Uid"].split()[0] == str(owner), status["Uid"]
    assert int(status["CapEff"], 16) == 0 and int(status["CapBnd"], 16) == 0, status
    assert status["NoNewPrivs"].strip() == "1", status
    assert os.readlink(f"/proc/{pid}/ns/mnt") != os.readlink("/proc/self/ns/mnt")
    # the file a guest write makes belongs to the owner, as in share mode
    d = subdir(sbox, "owner")
    time.sleep(1.0)
    sbox.ok("sh", "-c", f"printf x > {d}/o")
    assert os.stat(d / "o").st_uid == os.stat(sbox.ws).st_uid


def guest_write_held(box, script, meanwhile):
    """Run script in the guest while the host writer is stopped (SIGSTOP): the engine
    sends its batch, which waits; meanwhile() runs; then the writer goes on, and this
    returns once the exec did and a flush is done."""
    pid = writer_pid(box)
    assert pid, box.home.diag()
    os.kill(pid, signal.SIGSTOP)
    try:
        p = box.home.popen("exec", box.name, "sh", "-c", script)
        time.sleep(2.5)   # the engine compared against the agreed state and sent its batch
        meanwhile()
    finally:
        os.kill(pid, signal.SIGCONT)
    try:
        assert p.wait(timeout=120) == 0, p.stderr.read()
    finally:
        p.stdout.close()
        p.stderr.close()
    box.home.ok("sync", "flush", box.name)


def test_host_change_while_guest_write_is_in_flight_is_a_conflict(sbox):
    d, f = agreed_file(sbox, "race", "r.txt")

    def host_write():
        f.write_text("host\n")
        time.sleep(0.5)
    guest_write_held(sbox, f"printf guest > {f}", host_write)
    assert f.read_text() == "host\n"
    kept = [x for x in os.listdir(d) if x.startswith("r.txt.sbx-conflict-guest-")]
    assert len(kept) == 1 and (d / kept[0]).read_text() == "guest", os.listdir(d)
    assert sbox.ok("cat", f).out == "host\n"


def test_writer_never_follows_a_symlink_planted_in_a_parent(sbox):
    """Guest root replaces a directory of the share by a symlink out of the workspace
    while the writer holds a batch for files in it: nothing lands outside."""
    d = subdir(sbox, "plant")
    (d / "dir").mkdir()
    chown_to_agent(d)
    outside = sbox.home.base / f"outside-{secrets.token_hex(3)}"
    outside.mkdir()
    os.chmod(outside, 0o777)
    assert wait_until(lambda: sbox.home.sbx("exec", sbox.name, "test", "-d", d / "dir").rc == 0, 10)
    rel = d.relative_to(sbox.ws)

    def plant():
        r = sbox.home.sbx("exec", "-u", "root", sbox.name, "sh", "-c",
                          f"cd /run/sbx/share/{rel} && mv dir dir.old && ln -s {outside} dir")
        assert r.rc == 0, r
        assert os.path.islink(d / "dir")
    guest_write_held(sbox, f"for i in $(seq 1 20); do printf x > {d}/dir/f$i; done", plant)
    assert os.listdir(outside) == [], os.listdir(outside)
