# SPDX-License-Identifier: MIT
# test_gitguard.py: the workspace's git hooks and config, which git on the host runs and
# obeys, are read-only inside the VM (for the agent and for guest root); the rest of the
# repository stays writable, so the agent can commit.
import os
import subprocess

import pytest

from conftest import Box, agent_gid, agent_uid, chown_to_agent, new_home


def _git(ws, *args):
    subprocess.run(["git", "-c", "safe.directory=*", "-C", str(ws), *args], check=True, capture_output=True,
                   env=dict(os.environ, GIT_CONFIG_NOSYSTEM="1", HOME=str(ws.parent)))




@pytest.fixture(scope="module")
def repo():
    h = new_home("git")
    ws = h.workspace("repo")
    _git(ws, "init", "-q", "-b", "main")
    _git(ws, "config", "user.email", "agent@example.com")
    _git(ws, "config", "user.name", "Agent")
    _git(ws, "config", "core.hooksPath", ".husky")
    (ws / ".husky").mkdir()
    (ws / ".husky" / "pre-commit").write_text("#!/bin/sh\nexit 0\n")
    (ws / "README").write_text("hello\n")
    _git(ws, "add", "-A")
    _git(ws, "commit", "-qm", "init")
    # no hooks/ at all: sbx must create it, or the guest could
    subprocess.run(["rm", "-rf", str(ws / ".git" / "hooks")], check=True)
    chown_to_agent(ws)
    h.ok("run", "-d", "--name", "gitbox", "shell", ws, timeout=300)
    yield Box(h, "gitbox", ws)
    h.close()


@pytest.mark.parametrize("user", ["agent", "root"])
def test_hooks_and_config_are_read_only(repo, user):
    ws = repo.ws
    script = (f"cd {ws}; "
              "echo 'touch /tmp/pwned' > .git/hooks/post-checkout 2>/dev/null; echo hook=$?; "
              "echo '[core] fsmonitor = evil' >> .git/config 2>/dev/null; echo config=$?; "
              "git config core.hooksPath /tmp >/dev/null 2>&1; echo gitconfig=$?; "
              "echo x >> .husky/pre-commit 2>/dev/null; echo husky=$?; "
              "mv .git/hooks .git/hooks.old 2>/dev/null; echo mvhooks=$?; "
              "rm -f .git/config 2>/dev/null; echo rmconfig=$?; "
              "mv .git .git-old 2>/dev/null; echo mvgit=$?; "
              "mv .husky .husky-old 2>/dev/null; echo mvhusky=$?")
    r = repo.exec("sh", "-c", script, opts=["-u", user])
    got = dict(line.split("=", 1) for line in r.out.split())
    assert all(v != "0" for v in got.values()), r
    assert set(got) == {"hook", "config", "gitconfig", "husky", "mvhooks", "rmconfig", "mvgit", "mvhusky"}, r
    assert (ws / ".git").is_dir() and not (ws / ".git-old").exists()
    assert os.listdir(ws / ".git" / "hooks") == []
    assert "evil" not in (ws / ".git" / "config").read_text()
    assert (ws / ".husky" / "pre-commit").read_text() == "#!/bin/sh\nexit 0\n"


def test_hooks_dir_was_created_for_the_agent(repo):
    st = os.stat(repo.ws / ".git" / "hooks")
    assert st.st_uid == agent_uid() and st.st_gid == agent_gid()


def test_agent_can_still_commit(repo):
    r = repo.exec("sh", "-c", f"cd {repo.ws} && echo more >> README && git commit -qam 'from the agent' "
                  "&& git log --oneline | wc -l")
    assert r.rc == 0 and r.out.strip() == "2", r
    log = subprocess.run(["git", "-c", "safe.directory=*", "-C", str(repo.ws), "log", "--format=%s", "-1"],
                         capture_output=True,
                         text=True, env=dict(os.environ, GIT_CONFIG_NOSYSTEM="1"))
    assert "from the agent" in log.stdout, log


def test_setting_off_makes_them_writable(repo):
    h = repo.home
    h.ok("settings", "set", "workspace.protectGit", "false")
    try:
        h.ok("stop", repo.name, timeout=120)
        r = repo.exec("sh", "-c", f"echo '# harmless' >> {repo.ws}/.git/config && echo ok")
        assert r.out.strip() == "ok", r
        assert "# harmless" in (repo.ws / ".git" / "config").read_text()
    finally:
        h.ok("settings", "unset", "workspace.protectGit")
        h.ok("stop", repo.name, timeout=120)
    r = repo.exec("sh", "-c", f"echo x >> {repo.ws}/.git/config; echo $?")
    assert r.out.strip() != "0", r


# --- git directories the guest could make later (issue 8, hole 2) ------------------

def _started(h, name, ws):
    """ws given to the agent, and a sandbox running on it."""
    chown_to_agent(ws)
    h.ok("run", "-d", "--name", name, "shell", ws, timeout=300)
    return Box(h, name, ws)


def _all_fail_as_root(box, attempts):
    """Run each (name, shell command) as guest root in the workspace; each must fail."""
    script = f"cd {box.ws}; " + " ".join(f"{cmd} >/dev/null 2>&1; echo {name}=$?;" for name, cmd in attempts)
    r = box.exec("sh", "-c", script, opts=["-u", "root"])
    got = dict(line.split("=", 1) for line in r.out.split())
    assert set(got) == {name for name, _ in attempts}, r
    assert all(v != "0" for v in got.values()), r


@pytest.fixture(scope="module")
def subrepo():
    """A repository with one submodule, cloned into .git/modules on the host."""
    h = new_home("gitsub")
    src = h.base / "lib-src"
    src.mkdir()
    _git(src, "init", "-q", "-b", "main")
    (src / "lib.txt").write_text("lib\n")
    _git(src, "add", "-A")
    _git(src, "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-qm", "lib")
    ws = h.workspace("super")
    _git(ws, "init", "-q", "-b", "main")
    _git(ws, "config", "user.email", "agent@example.com")
    _git(ws, "config", "user.name", "Agent")
    _git(ws, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(src), "lib")
    _git(ws, "commit", "-qm", "with lib")
    _git(ws / "lib", "config", "user.email", "agent@example.com")
    _git(ws / "lib", "config", "user.name", "Agent")
    yield _started(h, "subbox", ws)
    h.close()


def test_guest_root_cannot_make_a_new_submodule_git_dir(subrepo):
    # (a): a new .git/modules/NEW with its own config (core.fsmonitor) and hooks, which
    # the host's next `git status` in the superproject would run
    ws = subrepo.ws
    _all_fail_as_root(subrepo, [
        ("mkmod", "mkdir .git/modules/evil"),
        ("mknested", "mkdir .git/modules/lib/modules/evil"),
        ("clone", "git -c safe.directory=\\* clone -q --bare lib .git/modules/evil2"),
        ("modcfg", "sh -c 'echo \"[core] fsmonitor = evil\" >> .git/modules/lib/config'"),
        ("modhook", "sh -c 'echo x > .git/modules/lib/hooks/post-checkout'"),
        ("mvmods", "mv .git/modules .git/modules.old"),
    ])
    assert sorted(os.listdir(ws / ".git" / "modules")) == ["lib"]
    assert os.listdir(ws / ".git" / "modules" / "lib" / "modules") == []
    assert "evil" not in (ws / ".git" / "modules" / "lib" / "config").read_text()
    assert not (ws / ".git" / "modules" / "lib" / "hooks" / "post-checkout").exists()


def test_existing_submodule_still_commits(subrepo):
    r = subrepo.exec("sh", "-c", f"cd {subrepo.ws}/lib && echo more >> lib.txt && git commit -qam 'in lib' "
                     "&& git log --format=%s -1")
    assert r.rc == 0 and r.out.strip() == "in lib", r


@pytest.fixture(scope="module")
def nogit():
    """A workspace that is not a git repository when the sandbox starts."""
    h = new_home("gitnone")
    ws = h.workspace("plain")
    (ws / "README").write_text("hello\n")
    yield _started(h, "plainbox", ws)
    h.close()


def test_guest_root_cannot_make_the_workspace_a_repository(nogit):
    # (b): `git init` in the workspace, then hooks and config of the agent's choosing
    ws = nogit.ws
    _all_fail_as_root(nogit, [
        ("init", "git init -q ."),
        ("hooks", "mkdir -p .git/hooks"),
        ("config", "sh -c 'echo \"[core] fsmonitor = evil\" > .git/config'"),
        ("mvgit", "mv .git .git-old"),
        ("rmgit", "rmdir .git"),
        ("gitfile", "sh -c 'rm -rf .git; echo gitdir: /tmp/x > .git'"),
    ])
    # the placeholder: an empty directory, which host git skips
    assert (ws / ".git").is_dir() and os.listdir(ws / ".git") == []
    assert not (ws / ".git-old").exists()
    st = os.stat(ws / ".git")
    assert st.st_uid == agent_uid() and st.st_gid == agent_gid()


def test_placeholder_is_not_a_repository_to_host_git(nogit):
    r = subprocess.run(["git", "-C", str(nogit.ws), "rev-parse", "--git-dir"], capture_output=True, text=True,
                       env=dict(os.environ, GIT_CONFIG_NOSYSTEM="1", GIT_CEILING_DIRECTORIES=str(nogit.ws.parent)))
    assert r.returncode != 0 and "not a git repository" in r.stderr, r


def test_hard_linked_config_is_refused():
    # (c): a second name of .git/config, made while it was not protected, would stay
    # writable: sbx refuses to start and says how to break the link
    h = new_home("gitlink")
    try:
        ws = h.workspace("linked")
        _git(ws, "init", "-q", "-b", "main")
        os.link(ws / ".git" / "config", ws / "notes.txt")
        chown_to_agent(ws)
        before = (ws / ".git" / "config").read_text()
        r = h.sbx("run", "-d", "--name", "linkbox", "shell", ws, timeout=300)
        if r.rc == 0:
            # today's code started it: the attack goes through the other name
            h.sbx("exec", "-u", "root", "linkbox", "sh", "-c",
                  f"echo '[core] fsmonitor = evil' >> {ws}/notes.txt", timeout=120)
        assert (ws / ".git" / "config").read_text() == before
        assert r.rc != 0, r
        assert ".git/config has 2 hard links" in r.err and "cp -p" in r.err, r
        assert ".git/config has 2 hard links" in (h.state_dir / "sbxd.log").read_text()
        # the fix the message names, then it starts and the config is read-only
        subprocess.run(f"cd {ws} && cp -p .git/config .git/config.tmp && mv .git/config.tmp .git/config",
                       shell=True, check=True)
        chown_to_agent(ws)
        h.ok("run", "-d", "--name", "linkbox", "shell", ws, timeout=300)
        r = h.sbx("exec", "-u", "root", "linkbox", "sh", "-c",
                  f"echo '[core] fsmonitor = evil' >> {ws}/.git/config; echo $?", timeout=120)
        assert r.out.strip() != "0", r
        assert (ws / ".git" / "config").read_text() == before
    finally:
        h.close()
