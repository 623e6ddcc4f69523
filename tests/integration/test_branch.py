# SPDX-License-Identifier: MIT
# test_branch.py: `--branch`: a git worktree per sandbox, next to the repository; the VM
# sees its worktree and the repository's git directory, nothing else of it; commits land
# in the repository; `sbx rm` removes the worktree (not with uncommitted changes unless
# -f) and keeps the branch.
import os
import subprocess

import pytest

from conftest import Box, agent_gid, agent_uid, chown_to_agent, new_home


def git(ws, *args, check=True):
    return subprocess.run(["git", "-c", "safe.directory=*", "-C", str(ws), *args], check=check,
                          capture_output=True, text=True, env=dict(os.environ, GIT_CONFIG_NOSYSTEM="1"))




@pytest.fixture(scope="module")
def repo():
    h = new_home("br")
    ws = h.workspace("proj")
    git(ws, "init", "-q", "-b", "main")
    git(ws, "config", "user.email", "agent@example.com")
    git(ws, "config", "user.name", "Agent")
    (ws / "README").write_text("main tree\n")
    (ws / "secret-main-only.txt").write_text("uncommitted host file\n")
    git(ws, "add", "README")
    git(ws, "commit", "-qm", "init")
    chown_to_agent(ws)
    h.ok("run", "-d", "--branch", "feat-a", "--name", "ba", "shell", ws, timeout=300)
    h.ok("run", "-d", "--branch", "feat-b", "--name", "bb", "shell", ws, timeout=300)
    yield h, ws
    h.close()


def test_worktrees_next_to_the_repository(repo):
    h, ws = repo
    wts = git(ws, "worktree", "list", "--porcelain").stdout
    for name, br in (("ba", "feat-a"), ("bb", "feat-b")):
        wt = f"{ws}.sbx/{name}"
        assert f"worktree {wt}\n" in wts and f"branch refs/heads/{br}" in wts, wts
        assert os.stat(wt).st_uid == agent_uid()
    ls = h.ls_json()
    assert ls["ba"]["workspace"] == f"{ws}.sbx/ba" and ls["bb"]["workspace"] == f"{ws}.sbx/bb", ls
    assert ls["ba"]["branch"] == "feat-a" and ls["ba"]["repo"] == str(ws), ls


def test_guest_sees_its_worktree_and_the_git_dir_only(repo):
    h, ws = repo
    a = Box(h, "ba", f"{ws}.sbx/ba")
    r = a.ok("sh", "-c", f"cd {ws}.sbx/ba && cat README && git rev-parse --abbrev-ref HEAD && ls -A {ws} "
             f"&& ls -A {ws}.sbx")
    lines = r.out.split()
    assert lines[:3] == ["main", "tree", "feat-a"], r
    assert lines[3:] == [".git", "ba"], r   # no main working tree, no other sandbox's worktree


def test_side_by_side_and_commits_land_in_the_repository(repo):
    h, ws = repo
    a, b = Box(h, "ba", None), Box(h, "bb", None)
    a.ok("sh", "-c", f"cd {ws}.sbx/ba && echo A > a.txt && git add a.txt && git commit -qm 'from a'")
    b.ok("sh", "-c", f"cd {ws}.sbx/bb && echo B > b.txt && git add b.txt && git commit -qm 'from b'")
    assert git(ws, "log", "--format=%s", "-1", "feat-a").stdout.strip() == "from a"
    assert git(ws, "log", "--format=%s", "-1", "feat-b").stdout.strip() == "from b"
    assert not os.path.exists(f"{ws}.sbx/bb/a.txt") and not os.path.exists(f"{ws}.sbx/ba/b.txt")
    # the main working tree is untouched
    assert sorted(os.listdir(ws)) == [".git", "README", "secret-main-only.txt"]
    assert git(ws, "rev-parse", "--abbrev-ref", "HEAD").stdout.strip() == "main"


def test_git_dir_hooks_and_config_read_only(repo):
    h, ws = repo
    r = Box(h, "ba", None).exec("sh", "-c", f"echo evil > {ws}/.git/hooks/post-checkout; echo hook=$?; "
                                f"echo evil >> {ws}/.git/config; echo config=$?; "
                                f"mv {ws}/.git {ws}/.git-old; echo mv=$?", opts=["-u", "root"])
    got = dict(x.split("=") for x in r.out.split())
    assert got["hook"] != "0" and got["config"] != "0" and got["mv"] != "0", r
    assert "evil" not in (ws / ".git" / "config").read_text()


def test_review_covers_the_shared_git_dir(repo):
    """The VM can write the repository's .git (it must, to commit): a .git/commondir
    planted there (git would take config and hooks from where it points) shows in
    `sbx review` of the sandbox, by its path in the main repository."""
    h, ws = repo
    r = h.sbx("review", "ba")
    assert r.rc == 0, r
    Box(h, "ba", None).ok("sh", "-c", f"echo ../x > {ws}/.git/commondir")
    try:
        r = h.sbx("review", "ba")
        assert r.rc == 1 and f"{ws}/.git/commondir" in r.out, r
    finally:
        os.unlink(ws / ".git" / "commondir")
    assert h.sbx("review", "ba").rc == 0


def test_bad_branch_and_not_a_repository(repo):
    h, ws = repo
    r = h.sbx("create", "--branch", "-x", "shell", ws)
    assert r.rc == 2, r
    r = h.sbx("create", "--branch", "a..b", "shell", ws)
    assert r.rc == 2 and "branch" in r.err, r
    plain = h.workspace("plain")
    r = h.sbx("create", "--branch", "x", "shell", plain)
    assert r.rc != 0 and "git repository" in r.err, r


def test_rm_keeps_uncommitted_work_unless_forced_and_keeps_the_branch(repo):
    h, ws = repo
    Box(h, "bb", None).ok("sh", "-c", f"echo wip > {ws}.sbx/bb/wip.txt")
    r = h.sbx("rm", "-f", "ba", timeout=120)      # clean: goes
    assert r.rc == 0, r
    assert not os.path.exists(f"{ws}.sbx/ba")
    h.ok("stop", "bb", timeout=120)
    r = h.sbx("rm", "bb", timeout=120)            # uncommitted work: refused
    assert r.rc == 1 and "uncommitted changes" in r.err, r
    assert os.path.exists(f"{ws}.sbx/bb/wip.txt") and h.status("bb") == "stopped"
    r = h.sbx("rm", "-f", "bb", timeout=120)
    assert r.rc == 0, r
    assert not os.path.exists(f"{ws}.sbx")
    assert git(ws, "worktree", "list", "--porcelain").stdout.count("worktree ") == 1
    branches = git(ws, "branch", "--format=%(refname:short)").stdout.split()
    assert "feat-a" in branches and "feat-b" in branches


def test_rm_runs_nothing_the_agent_planted(repo):
    """Issue 8, hole 1, from inside the VM as root: the worktree's .git is pointed at a
    git directory the agent wrote, whose config defines a clean filter; commondir and
    config.worktree of its entry in the shared git directory name the same; a tracked
    file gets an old mtime, so that a host `git status` re-hashes it through the filter.
    `sbx rm` asks whether the worktree is dirty and removes it: it must run none of it.
    (Against main's sbx the filter runs at the first `sbx rm`.)"""
    h, ws = repo
    h.ok("run", "-d", "--branch", "feat-c", "--name", "bc", "shell", ws, timeout=300)
    wt = f"{ws}.sbx/bc"
    # host /tmp: writable by the repository's owner (host git runs as that user), and
    # not the guest's /tmp
    marker = f"/tmp/sbx-pwned-{os.getpid()}-{os.urandom(4).hex()}"
    filt = f"sh -c 'touch {marker}; cat'"
    script = (
        "set -e\n"
        f"cd {wt}\n"
        "id=$(sed 's|.*/worktrees/||' .git)\n"
        f"adm={ws}/.git/worktrees/$id\n"
        "git init -q --bare .evil\n"
        "git -C .evil config core.bare false\n"
        f"git -C .evil config filter.x.clean \"{filt}\"\n"
        "GIT_DIR=$PWD/.evil GIT_WORK_TREE=$PWD git add README\n"
        f"git config --file $adm/config.worktree filter.x.clean \"{filt}\"\n"
        "echo $PWD/.evil > $adm/commondir\n"
        "printf '* filter=x\\n' > .gitattributes\n"
        "touch -d 2001-01-01 README\n"
        # the git guard makes the .git file read-only; the commondir and
        # config.worktree variants remain to be tried by sbx rm
        "(echo \"gitdir: $PWD/.evil\" > .git) 2>/dev/null || true\n"
        # owned like the worktree, so that host git's safe.directory check passes
        "chown -R $(stat -c %u:%g README) .evil\n")
    try:
        Box(h, "bc", None).ok("sh", "-c", script, opts=["-u", "root"])
        h.ok("stop", "bc", timeout=120)
        r = h.sbx("rm", "bc", timeout=120)
        assert r.rc == 1 and "uncommitted changes" in r.err, r
        assert not os.path.exists(marker), "sbx rm ran the agent's filter on the host"
        r = h.sbx("rm", "-f", "bc", timeout=120)
        assert r.rc == 0, r
        assert not os.path.exists(marker), "sbx rm -f ran the agent's filter on the host"
        assert not os.path.exists(wt)
        assert not os.path.exists(f"{ws}/.git/worktrees/bc")
    finally:
        if os.path.exists(marker):
            os.unlink(marker)
