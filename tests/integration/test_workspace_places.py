# SPDX-License-Identifier: MIT
# test_workspace_places.py: workspaces in awkward places (issue 14, item 4): under a parent
# directory only its owner may search (mktemp -d, /root), through the warm pool and with
# --branch; a path that became a symbolic link is refused with a message that says so.
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import agent_gid, agent_uid, new_home, wait_until

BOOT_S = 240


def _private_parent():
    """A directory like mktemp -d makes: 0700, its owner's (root's, as root)."""
    d = Path(tempfile.mkdtemp(prefix="sbx-priv-"))
    assert (d.stat().st_mode & 0o777) == 0o700
    return d


def _agent_dir(p):
    p.mkdir(mode=0o755)
    if os.getuid() == 0:
        os.chown(p, agent_uid(), agent_gid())
    return p


def _roundtrip(h, name, ws, *extra):
    r = h.sbx("run", "--name", name, *extra, "shell", ws, "--", "sh", "-c",
              f"cat {ws}/from-host && echo from-guest > {ws}/from-guest", timeout=BOOT_S)
    assert r.rc == 0, (r, h.diag())
    assert "hello" in r.out, r
    assert (ws / "from-guest").read_text() == "from-guest\n"


def test_workspace_under_a_private_parent(sbx_bin, sbx):
    """virtiofsd runs as an id of its own, which cannot search a 0700 parent: the share
    must not depend on it walking the path."""
    parent = _private_parent()
    h = new_home("priv")
    try:
        ws = _agent_dir(parent / "proj")
        (ws / "from-host").write_text("hello\n")
        _roundtrip(h, "priv", ws)
        # the parent stays as it was: sbx did not open it up to make it work
        assert (parent.stat().st_mode & 0o777) == 0o700
        # a second start (stop, exec) goes the same way
        h.ok("stop", "priv", timeout=120)
        r = h.sbx("exec", "priv", "cat", f"{ws}/from-guest", timeout=BOOT_S)
        assert r.rc == 0 and "from-guest" in r.out, r
    finally:
        h.close()
        shutil.rmtree(parent, ignore_errors=True)


def test_workspace_under_root_home(sbx_bin, sbx):
    """As root, a project under /root (mode 0700 on Debian)."""
    if os.getuid() != 0:
        pytest.skip("only root has a project under /root; test_workspace_under_a_private_parent "
                    "is the same case for an ordinary user")
    root_home = Path("/root")
    mode = root_home.stat().st_mode & 0o777
    parent = Path(tempfile.mkdtemp(prefix="sbx-roothome-", dir=root_home))
    h = new_home("rooth")
    try:
        os.chmod(root_home, 0o700)
        ws = _agent_dir(parent / "proj")
        (ws / "from-host").write_text("hello\n")
        _roundtrip(h, "rooth", ws)
    finally:
        h.close()
        os.chmod(root_home, mode)
        shutil.rmtree(parent, ignore_errors=True)


def test_pool_claim_under_a_private_parent(sbx_bin, sbx):
    """A warm pool VM's claim binds the workspace into its virtiofsd's stage: from a
    private parent too."""
    parent = _private_parent()
    h = new_home("privpool", pool=1)
    try:
        h.ok("daemon", "start", timeout=60)
        assert wait_until(lambda: re.search(r"pool-\S+\s+minimal\s+ready", h.sbx("ls").out), BOOT_S,
                          interval=1), h.diag()
        ws = _agent_dir(parent / "proj")
        (ws / "from-host").write_text("hello\n")
        _roundtrip(h, "pp", ws)
        log = (h.state_dir / "sbxd.log").read_text(errors="replace")
        assert "pp: claimed pool VM " in log, log[-3000:]
    finally:
        h.close()
        shutil.rmtree(parent, ignore_errors=True)


def test_branch_under_a_private_parent(sbx_bin, sbx):
    """--branch serves a stage of the worktree and the git directory. The parent is the
    repository owner's (sbx runs git on the host as that owner, never as root)."""
    parent = _private_parent()
    h = new_home("privbr")
    try:
        if os.getuid() == 0:
            os.chown(parent, agent_uid(), agent_gid())
        repo = _agent_dir(parent / "repo")
        env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
               "GIT_COMMITTER_EMAIL": "t@t"}
        run = lambda *a: subprocess.run(["git", "-c", "safe.directory=*", "-C", str(repo), *a], check=True, env=env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        run("init", "-q", "-b", "main")
        (repo / "a").write_text("a\n")
        run("add", "a")
        run("commit", "-q", "-m", "a")
        if os.getuid() == 0:
            for root, dirs, files in os.walk(repo):
                for n in dirs + files:
                    os.lchown(os.path.join(root, n), agent_uid(), agent_gid())
        r = h.sbx("run", "--name", "pb", "--branch", "feat", "shell", repo, "--", "sh", "-c",
                  "echo b > b && git add b && git -c user.name=t -c user.email=t@t commit -qm b && echo done",
                  timeout=BOOT_S)
        assert r.rc == 0 and "done" in r.out, (r, h.diag())
        log = subprocess.run(["git", "-c", "safe.directory=*", "-C", str(repo), "log", "--format=%s", "feat"], capture_output=True,
                             text=True, env=env)
        assert log.stdout.split() == ["b", "a"], log
    finally:
        h.close()
        shutil.rmtree(parent, ignore_errors=True)


def test_workspace_path_that_became_a_symlink_is_refused(sbx_bin, sbx):
    """sbx resolves the workspace once, at create; a directory on its path replaced by
    a symbolic link since is not followed, and the start says why."""
    h = new_home("wslink")
    try:
        mid = h.base / "mid"
        mid.mkdir(mode=0o755)
        ws = _agent_dir(mid / "proj")
        h.ok("create", "--name", "lk", "shell", ws, timeout=60)
        elsewhere = h.base / "elsewhere"
        mid.rename(elsewhere)
        mid.symlink_to(elsewhere)
        r = h.sbx("exec", "lk", "true", timeout=BOOT_S)
        assert r.rc != 0, r
        assert "symbolic link" in r.err and str(ws) in r.err, r
        assert not h.vm_processes()
    finally:
        h.close()
