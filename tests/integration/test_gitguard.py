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
