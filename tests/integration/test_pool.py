# SPDX-License-Identifier: MIT
# test_pool.py: the warm pool (docs/warm-pool.md): a new sandbox claims a booted VM,
# which then looks like a freshly booted one (workspace at its path, hostname,
# machine-id, empty /tmp), and the pool refills.
import http.server
import json
import os
import re
import socketserver
import subprocess
import threading

import pytest

from conftest import chown_to_agent, http_reply, new_home, pid_alive, wait_until

BOOT_S = 300


def daemon_log(h):
    try:
        return (h.state_dir / "sbxd.log").read_text(errors="replace")
    except OSError:
        return ""


def pool_booted(h):
    return len(re.findall(r"pool VM booted", daemon_log(h)))


def claimed(h, name):
    return re.search(rf"\b{re.escape(name)}: claimed pool VM ", daemon_log(h)) is not None


@pytest.fixture
def pooled(sbx_bin, sbx):
    h = new_home("pool", pool=1)
    yield h
    h.close()


def identity(h, name, ws):
    """hostname, machine-id, pwd and /tmp's entries (apart from the workspace's
    own parents when it lies under /tmp) of a new sandbox NAME, plus a file written."""
    script = (f"hostname; cat /etc/machine-id; cd {ws} && pwd && echo from-{name} > made-in-guest && "
              "ls -A /tmp | tr '\\n' ' '; echo")
    r = h.ok("run", "--name", name, "shell", ws, "--", "sh", "-c", script, timeout=BOOT_S)
    lines = r.out.splitlines()
    assert len(lines) == 4, r
    tmp = set(lines[3].split())
    parts = ws.parts
    if len(parts) > 2 and parts[1] == "tmp":
        tmp.discard(parts[2])
    return lines[0], lines[1], lines[2], tmp


def test_claim_is_a_fresh_sandbox_and_pool_refills(pooled):
    h = pooled
    h.ok("daemon", "start", timeout=60)
    assert wait_until(lambda: pool_booted(h) >= 1, BOOT_S, interval=0.5), h.diag()

    ws = h.workspace()
    host, mid, pwd, tmp = identity(h, "pa", ws)
    assert claimed(h, "pa"), f"the pool VM was not claimed\n{h.diag()}"
    assert host == "pa"
    assert re.fullmatch(r"[0-9a-f]{32}", mid), mid
    assert pwd == str(ws)
    assert (ws / "made-in-guest").read_text() == "from-pa\n"
    assert tmp == set(), f"/tmp of a claimed VM holds {tmp}"
    # the workspace's git metadata is guarded as for a booted sandbox
    r = h.sbx("exec", "-u", "root", "pa", "touch", f"{ws}/.git/planted", timeout=60)
    assert r.rc != 0 and not (ws / ".git" / "planted").exists(), r
    # pool VMs are not sandboxes
    assert h.names() == ["pa"]

    # refilled in the background, and the next claim is another machine
    assert wait_until(lambda: pool_booted(h) >= 2, BOOT_S, interval=0.5), h.diag()
    ws2 = h.workspace()
    host2, mid2, pwd2, _ = identity(h, "pb", ws2)
    assert claimed(h, "pb"), h.diag()
    assert (host2, pwd2) == ("pb", str(ws2))
    assert mid2 != mid
    assert (ws2 / "made-in-guest").read_text() == "from-pb\n"
    assert (ws / "made-in-guest").read_text() == "from-pa\n"   # the first one untouched

    # a claimed sandbox boots as any other after a stop: same disk, same identity
    h.ok("stop", "pa", timeout=120)
    r = h.ok("exec", "pa", "sh", "-c", f"hostname; cat /etc/machine-id; cat {ws}/made-in-guest", timeout=BOOT_S)
    assert r.out.splitlines() == ["pa", mid, "from-pa"], r


def test_pool_off(sbx_bin, sbx):
    h = new_home("pool0", pool=0)
    try:
        ws = h.workspace()
        h.ok("run", "--name", "pz", "shell", ws, "--", "true", timeout=BOOT_S)
        assert pool_booted(h) == 0 and not claimed(h, "pz")
        assert not list((h.run_dir / "pool").glob("*"))
    finally:
        h.close()


def test_daemon_stop_discards_pool_vms(pooled):
    h = pooled
    h.ok("daemon", "start", timeout=60)
    assert wait_until(lambda: pool_booted(h) >= 1, BOOT_S, interval=0.5), h.diag()
    recs = [json.loads(p.read_text()) for p in (h.run_dir / "pool").glob("*/vm.json")]
    assert len(recs) == 1, recs
    qemu = (recs[0]["qemu_pid"], recs[0]["qemu_start"])
    h.ok("daemon", "stop", timeout=120)
    assert wait_until(lambda: not pid_alive(*qemu), 30), "the pool VM outlived sbxd"
    assert not list((h.run_dir / "pool").glob("*")) and not list((h.state_dir / "pool").glob("*"))
    # the next sbxd boots a new one; nothing of the old is listed
    h.ok("daemon", "start", timeout=60)
    assert wait_until(lambda: pool_booted(h) >= 2, BOOT_S, interval=0.5), h.diag()
    assert h.names() == []


def test_failed_claim_falls_back_to_a_boot(pooled):
    """A claim that fails (here: git metadata that cannot be guarded, a hard-linked
    .git/config) discards that pool VM and creates the sandbox as without a pool: the
    user gets the boot's own error, the sandbox's files stay, and the pool refills."""
    h = pooled
    h.ok("daemon", "start", timeout=60)
    assert wait_until(lambda: pool_booted(h) >= 1, BOOT_S, interval=0.5), h.diag()
    ws = h.workspace()
    (ws / ".git").mkdir()
    (ws / ".git" / "config").write_text("[core]\n")
    os.link(ws / ".git" / "config", ws / "config-link")
    r = h.sbx("run", "--name", "pf", "shell", ws, "--", "true", timeout=BOOT_S)
    assert r.rc != 0 and "git metadata cannot be protected" in r.err, r
    assert "pf: pool VM not claimed" in daemon_log(h), h.diag()
    # the discarded pool VM's cleanup must not take the new sandbox's directory
    assert wait_until(lambda: pool_booted(h) >= 2, BOOT_S, interval=0.5), h.diag()
    assert (h.sandbox_dir("pf") / "spec.json").exists()
    assert h.names() == ["pf"]


def git(ws, *args):
    return subprocess.run(["git", "-c", "safe.directory=*", "-C", str(ws), *args], check=True,
                          capture_output=True, text=True, env=dict(os.environ, GIT_CONFIG_NOSYSTEM="1"))


def test_branch_sandbox_claims_and_commits_land(pooled):
    """--branch takes a pool VM too: the stage gets the worktree and the repository's
    git directory at their paths, and a commit in the guest lands in the repository."""
    h = pooled
    ws = h.workspace("proj")
    git(ws, "init", "-q", "-b", "main")
    git(ws, "config", "user.email", "agent@example.com")
    git(ws, "config", "user.name", "Agent")
    (ws / "README").write_text("main tree\n")
    git(ws, "add", "README")
    git(ws, "commit", "-qm", "init")
    chown_to_agent(ws)
    h.ok("daemon", "start", timeout=60)
    assert wait_until(lambda: pool_booted(h) >= 1, BOOT_S, interval=0.5), h.diag()
    wt = f"{ws}.sbx/pbr"
    r = h.ok("run", "--branch", "feat", "--name", "pbr", "shell", ws, "--", "sh", "-c",
             f"cd {wt} && cat README && git rev-parse --abbrev-ref HEAD && ls -A {ws} && "
             "echo P > p.txt && git add p.txt && git commit -qm 'from the pool'", timeout=BOOT_S)
    assert claimed(h, "pbr"), h.diag()
    assert r.out.split() == ["main", "tree", "feat", ".git"], r   # no main working tree
    assert git(ws, "log", "--format=%s", "-1", "feat").stdout.strip() == "from the pool"
    # its git directory is guarded as for a booted --branch sandbox
    r = h.sbx("exec", "-u", "root", "pbr", "touch", f"{ws}/.git/hooks/planted", timeout=60)
    assert r.rc != 0 and not (ws / ".git" / "hooks" / "planted").exists(), r


def test_pool_follows_the_sandboxes_made_and_shows_in_ls(pooled):
    """The pool keeps VMs of the kinds of sandbox made last (template, cpus, memory,
    agent ids): after a sandbox of another size, the next one of that size claims;
    `sbx create` of a hit says that the sandbox runs; `sbx ls` lists the pool."""
    h = pooled
    h.ok("daemon", "start", timeout=60)
    assert wait_until(lambda: pool_booted(h) >= 1, BOOT_S, interval=0.5), h.diag()
    ls = h.ok("ls", timeout=60).out
    assert re.search(r"warm pool.*\n\s+pool-\S+\s+minimal\s+ready", ls), ls
    assert h.names() == []   # ls -q: sandboxes only

    h.ok("run", "--name", "m1", "--memory", "768M", "shell", h.workspace(), "--", "true", timeout=BOOT_S)
    assert not claimed(h, "m1"), "a 768 MiB sandbox took a 1 GiB pool VM"
    # now both kinds are kept: the 1 GiB one still there, a 768 MiB one booted
    assert wait_until(lambda: pool_booted(h) >= 2, BOOT_S, interval=0.5), h.diag()
    r = h.ok("create", "--name", "m2", "--memory", "768M", "shell", h.workspace(), timeout=BOOT_S)
    assert claimed(h, "m2"), h.diag()
    assert "took a warm pool VM, so it runs already" in r.err, r
    assert h.ls_json()["m2"]["status"] in ("starting", "running")
    assert h.ok("exec", "m2", "sh", "-c", "free -m | awk '/Mem:/{print $2}'", timeout=60).out.strip() != ""
    # and the 1 GiB one is still served
    r = h.ok("run", "--name", "m3", "shell", h.workspace(), "--", "true", timeout=BOOT_S)
    assert claimed(h, "m3"), h.diag()


class _Seen(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.seen.append(self.path)
        http_reply(self, b"upstream\n")

    def log_message(self, *a):
        pass


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def test_unclaimed_pool_vm_gets_no_network(sbx_bin, sbx):
    """A pool VM is no one's yet: every egress stream it opens is refused, whatever
    the policy. Its guest (sbx.poolprobe, a test switch) fetches an allowed URL through
    the proxy and directly; both fail and the upstream sees nothing. The same VM,
    claimed, reaches that URL: the refusal is the pool's, not the policy's."""
    srv = _Server(("127.0.0.1", 0), _Seen)
    srv.seen = []
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    h = new_home("poolnet", pool=1)
    try:
        h.env["SBX_GUEST_CMDLINE"] = "sbx.poolprobe=http://good.test/probe"
        h.ok("policy", "allow", "network", "good.test")
        h.ok("settings", "set", "proxy.resolve", f"good.test:80=127.0.0.1:{srv.server_address[1]}")
        h.ok("daemon", "start", timeout=60)

        def probes():
            out = []
            for p in (h.state_dir / "pool").glob("*/console.log"):
                out += re.findall(r"SBX-POOL-PROBE (\w+) rc=(\d+)", p.read_text(errors="replace"))
            return out

        assert wait_until(lambda: len(probes()) >= 2, BOOT_S, interval=0.5), h.diag()
        res = dict(probes())
        assert set(res) == {"proxy", "direct"} and all(rc != "0" for rc in res.values()), res
        assert srv.seen == [], srv.seen
        ws = h.workspace()
        r = h.ok("run", "--name", "pn", "shell", ws, "--", "curl", "-sS", "-m", "20", "http://good.test/after",
                 timeout=BOOT_S)
        assert claimed(h, "pn"), h.diag()
        assert "upstream" in r.out and srv.seen == ["/after"], (r, srv.seen)
    finally:
        h.close()
        srv.shutdown()
