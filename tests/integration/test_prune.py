# SPDX-License-Identifier: MIT
# test_prune.py: `sbx prune`: removes the sandboxes stopped for at least --older-than (age
# from the stop time sbxd records in spec.json, or creation when one never ran), never a
# running one, never without asking unless -f; a --branch sandbox's worktree goes with it
# (as with sbx rm) and its branch stays.
import json
import os
import subprocess
import time

from conftest import SBX_BIN, chown_to_agent

DAY = 86400


def git(ws, *args):
    return subprocess.run(["git", "-c", "safe.directory=*", "-C", str(ws), *args], check=True,
                          capture_output=True, text=True, env=dict(os.environ, GIT_CONFIG_NOSYSTEM="1"))


def age_spec(h, name, **fields):
    """Set spec.json timestamps (seconds ago) while sbxd is down: it reads specs at start."""
    p = h.sandbox_dir(name) / "spec.json"
    spec = json.loads(p.read_text())
    now = int(time.time())
    for k, ago in fields.items():
        spec[k] = now - ago
    p.write_text(json.dumps(spec))


def test_prune_removes_only_old_stopped_sandboxes(fresh):
    h = fresh
    ws = h.workspace()
    t0 = int(time.time())
    # "old": ran once and stopped; sbxd records when.
    h.ok("run", "--name", "old", "shell", ws, "--", "true", timeout=300)
    h.ok("stop", "old", timeout=120)
    ls = h.ls_json()
    assert ls["old"]["status"] == "stopped", ls
    assert t0 <= ls["old"]["stopped"] <= int(time.time()) + 1, ls
    # "never": created long ago, never ran; "young": created now; "runner": old but running.
    h.ok("create", "--name", "never", "shell", ws, timeout=120)
    h.ok("create", "--name", "young", "shell", ws, timeout=120)
    h.ok("run", "-d", "--name", "runner", "shell", ws, timeout=300)
    assert "stopped" not in h.ls_json()["never"]

    h.ok("daemon", "stop", timeout=60)   # VMs outlive it; it reloads the specs at start
    age_spec(h, "old", created=30 * DAY, stopped=8 * DAY)
    age_spec(h, "never", created=9 * DAY)
    age_spec(h, "runner", created=30 * DAY, stopped=20 * DAY)
    age_spec(h, "young", created=60)

    # no terminal to ask on: refused, nothing removed
    r = h.sbx("prune", timeout=60)
    assert r.rc == 2 and "-f" in r.err, r
    assert set(h.names()) == {"old", "never", "young", "runner"}

    # -n lists the two old stopped ones (default age 7d) and removes nothing
    r = h.ok("prune", "-n", timeout=60)
    listed = {ln.split()[0] for ln in r.out.splitlines()[1:] if ln and not ln.startswith("Not ")}
    assert listed == {"old", "never"}, r
    assert "never ran" in r.out and "8d" in r.out and "9d" in r.out, r
    assert set(h.names()) == {"old", "never", "young", "runner"}

    # a longer age spares the 8-day-old one
    r = h.ok("prune", "-n", "--older-than", "2w", timeout=60)
    assert "No sandbox has been stopped for 2w" in r.out, r

    r = h.ok("prune", "-f", timeout=120)
    assert "Removed old" in r.out and "Removed never" in r.out, r
    assert set(h.names()) == {"young", "runner"}
    assert not h.sandbox_dir("old").exists() and not h.sandbox_dir("never").exists()
    assert h.wait_status("runner", "running", 60), h.diag()   # re-adopted after the daemon restart

    # --older-than 0: every stopped one, still never a running one
    r = h.ok("prune", "-f", "--older-than", "0", timeout=120)
    assert set(h.names()) == {"runner"}, r


def test_prune_asks_on_a_terminal(fresh):
    h = fresh
    ws = h.workspace()
    h.ok("create", "--name", "p1", "shell", ws, timeout=120)
    pty_run = ["script", "-qec"]   # util-linux: the command on a pseudo-terminal
    cmd = f"{SBX_BIN} prune --older-than 0"
    # answer no: kept, exit 1
    r = subprocess.run(pty_run + [cmd, "/dev/null"], input="n\n", capture_output=True, text=True,
                       env=h.env, timeout=60)
    assert "p1" in r.stdout and "[y/N]" in r.stdout and "Nothing removed" in r.stdout, r
    assert r.returncode == 1, r
    assert h.names() == ["p1"]
    # answer yes: removed
    r = subprocess.run(pty_run + [cmd, "/dev/null"], input="y\n", capture_output=True, text=True,
                       env=h.env, timeout=60)
    assert "Removed p1" in r.stdout and r.returncode == 0, r
    assert h.names() == []


def test_prune_removes_a_branch_worktree_and_keeps_the_branch(fresh):
    h = fresh
    ws = h.workspace("proj")
    git(ws, "init", "-q", "-b", "main")
    git(ws, "-c", "user.email=a@example.com", "-c", "user.name=A", "commit", "-q", "--allow-empty", "-m", "init")
    chown_to_agent(ws)
    h.ok("create", "--branch", "feat", "--name", "pb", "shell", ws, timeout=120)
    wt = f"{ws}.sbx/pb"
    assert os.path.isdir(wt)
    h.ok("daemon", "stop", timeout=60)
    age_spec(h, "pb", created=10 * DAY)
    r = h.ok("prune", "-f", timeout=120)
    assert "Removed pb" in r.out, r
    assert h.names() == [] and not os.path.exists(wt)
    assert "feat" in git(ws, "branch", "--list", "feat").stdout


def test_prune_usage_errors(fresh):
    h = fresh
    for bad in ("7", "7y", "-1d", "1.5h", ""):
        r = h.sbx("prune", "-f", "--older-than", bad, timeout=30)
        assert r.rc == 2 and "older-than" in r.err, r
    r = h.sbx("prune", "extra", timeout=30)
    assert r.rc == 2, r
    assert h.daemon_pid() is None   # usage errors start nothing
