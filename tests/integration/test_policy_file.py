# SPDX-License-Identifier: MIT
# test_policy_file.py: `sbx policy export/import` driving the real binary on fresh
# SBX_HOMEs (round trip, refusals that change nothing, the diff, the terminal), and a
# workspace's .sbx/policy that `sbx create` applies only once accepted on a terminal.
import json
import os
import pty
import select
import subprocess
import time

import pytest

from conftest import SBX_BIN, new_home


@pytest.fixture
def home(sbx_bin):
    h = new_home("pf", policy=None)
    yield h
    h.close()


@pytest.fixture
def home2(sbx_bin):
    h = new_home("pg", policy=None)
    yield h
    h.close()


def rules(h):
    """The policy as a set of (action, resource, sandbox, origin), and the preset."""
    r = h.ok("policy", "ls", "--json", timeout=30)
    return {(x["action"], x["resource"], x["sandbox"], x["origin"]) for x in json.loads(r.out)}


def policy_bytes(h):
    p = h.home / "config" / "policy.json"
    return p.read_bytes() if p.exists() else None


def run_tty(h, args, answer, timeout=120):
    """Run sbx on a pseudo-terminal; type `answer` at the first [y/N] prompt."""
    m, s = pty.openpty()
    p = subprocess.Popen([str(SBX_BIN), *map(str, args)], stdin=s, stdout=s, stderr=s, env=h.env,
                         close_fds=True, start_new_session=True)
    os.close(s)
    out, sent = b"", False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            r, _, _ = select.select([m], [], [], 0.5)
            if r:
                try:
                    d = os.read(m, 4096)
                except OSError:
                    break
                if not d:
                    break
                out += d
                if not sent and b"[y/N]" in out:
                    os.write(m, answer + b"\n")
                    sent = True
            elif p.poll() is not None:
                break
        p.wait(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(m)
    return p.returncode, out.decode("utf-8", "replace").replace("\r\n", "\n")


SAMPLE = """# a team's policy
version 1
preset balanced

allow example.com            # docs
deny **.ads.example:443
allow api.test:8443 sandbox=api
deny example.com sandbox=api
"""


def test_export_import_round_trip(home, home2, tmp_path):
    """A policy exported from one home and imported into a fresh one is the same policy,
    in the text form and the JSON form; exporting it again gives the same bytes."""
    home.ok("policy", "init", "balanced", timeout=30)
    home.ok("policy", "allow", "network", "example.com,[fd00::1]:22", timeout=30)
    home.ok("policy", "deny", "network", "--sandbox", "api", "bad.test:443", timeout=30)
    home.ok("policy", "allow", "network", "--sandbox", "api", "api.test", timeout=30)
    text = home.ok("policy", "export", timeout=30).out
    assert "\npreset balanced\n" in text and "\nallow api.test sandbox=api\n" in text, text
    f = tmp_path / "p.policy"
    home.ok("policy", "export", f, timeout=30)
    assert f.read_text() == text
    r = home2.ok("policy", "import", "-y", f, timeout=30)
    assert "+ allow api.test sandbox=api" in r.out and "~ preset (none) -> balanced" in r.out, r
    assert rules(home2) == rules(home)
    assert home2.ok("policy", "export", timeout=30).out == text
    # the JSON form: the same policy again, nothing to change
    j = tmp_path / "p.json"
    j.write_text(home.ok("policy", "export", "--json", timeout=30).out)
    data = json.loads(j.read_text())
    assert data["version"] == 1 and data["preset"] == "balanced"
    assert {"action": "deny", "resource": "bad.test:443", "sandbox": "api"} in data["rules"]
    before = policy_bytes(home2)
    r = home2.ok("policy", "import", j, timeout=30)  # no -y needed: nothing changes
    assert "nothing to change" in r.out, r
    assert policy_bytes(home2) == before


def test_bad_file_names_file_line_and_changes_nothing(home, tmp_path):
    home.ok("policy", "init", "deny-all", timeout=30)
    home.ok("policy", "allow", "network", "keep.test", timeout=30)
    before = policy_bytes(home)
    bad = tmp_path / "bad.policy"
    bad.write_text("allow ok.test\n# fine\nallow bad..name\nallow later.test\n")
    r = home.sbx("policy", "import", "-y", bad, timeout=30)
    assert r.rc == 1, r
    assert f"{bad}:3: invalid rule 'bad..name'" in r.err and "unchanged" in r.err, r
    assert policy_bytes(home) == before
    for text, line, what in (("allow a.test sandbox=x y\n", 1, "usage"), ("\n\npermit a.test\n", 3, "unknown"),
                             ("preset balanced\npreset deny-all\n", 2, "second preset"),
                             ('{"rules": [\n{"action": "allow", "resource": 1}]}', 0, "rules[0]")):
        bad.write_text(text)
        r = home.sbx("policy", "import", "-y", bad, timeout=30)
        assert r.rc == 1, r
        assert (f"{bad}:{line}: " if line else f"{bad}: ") in r.err and what in r.err, r
        assert policy_bytes(home) == before
    # not a regular file, and too large
    r = home.sbx("policy", "import", "-y", tmp_path, timeout=30)
    assert r.rc == 1 and "not a regular file" in r.err, r
    bad.write_bytes(b"# x\n" * (300 * 1024))
    r = home.sbx("policy", "import", "-y", bad, timeout=30)
    assert r.rc == 1 and "larger than 1 MiB" in r.err, r
    assert policy_bytes(home) == before


def test_import_shows_diff_and_needs_a_terminal_or_yes(home, tmp_path):
    home.ok("policy", "init", "deny-all", timeout=30)
    home.ok("policy", "allow", "network", "old.test", timeout=30)
    home.ok("policy", "allow", "network", "--sandbox", "api", "stays.test", timeout=30)
    before = policy_bytes(home)
    f = tmp_path / "new.policy"
    f.write_text("preset deny-all\nallow new.test\nallow stays.test sandbox=api\n")
    r = home.sbx("policy", "import", f, timeout=30)  # stdin is /dev/null: no terminal
    assert r.rc == 2, r
    assert "+ allow new.test\n" in r.out and "- allow old.test\n" in r.out, r
    assert "stays.test" not in r.out, r
    assert "needs a terminal" in r.err and "-y" in r.err, r
    assert policy_bytes(home) == before
    # standard input as the file: never a terminal to ask on
    r = home.sbx("policy", "import", "-", input=f.read_bytes(), timeout=30)
    assert r.rc == 2 and policy_bytes(home) == before, r
    # --merge adds, keeps old.test
    r = home.ok("policy", "import", "--merge", "-y", f, timeout=30)
    assert "+ allow new.test" in r.out and "old.test" not in r.out, r
    assert ("allow", "old.test", None, "user") in rules(home)
    assert ("allow", "new.test", None, "user") in rules(home)


def test_import_on_a_terminal_asks(home, tmp_path):
    home.ok("policy", "init", "deny-all", timeout=30)
    before = policy_bytes(home)
    f = tmp_path / "t.policy"
    f.write_text("allow asked.test sandbox=s1\n")
    rc, out = run_tty(home, ["policy", "import", f], b"n")
    assert rc == 1 and "+ allow asked.test sandbox=s1" in out and "unchanged" in out, out
    assert policy_bytes(home) == before
    rc, out = run_tty(home, ["policy", "import", f], b"y")
    assert rc == 0 and "Imported" in out, out
    assert ("allow", "asked.test", "s1", "user") in rules(home)
    # the file named no preset: replacing made the policy preset-less, and said so
    assert "~ preset deny-all -> (none)" in out, out


def test_help_documents_export_and_import(home):
    out = home.ok("policy", "--help", timeout=30).out
    assert "policy export [--json] [FILE]" in out and "policy import [--merge] [-y] FILE" in out, out
    assert "sandbox=api" in out, out
    r = home.ok("__complete", "policy", "", timeout=30)
    assert "export" in r.out.split() and "import" in r.out.split(), r


# ---- a workspace's own policy file: `sbx create` (no VM boot) -----------------------

def project_rules(h, name):
    return {(a, r) for (a, r, s, _) in rules(h) if s == name}


def test_workspace_policy_needs_accept_as_diff(sbx_bin):
    h = new_home("wp", policy="deny-all")
    try:
        ws = h.workspace("proj")
        (ws / ".sbx").mkdir()
        pf = ws / ".sbx" / "policy"
        pf.write_text("# the project's allow-list\nallow pypi.org\ndeny evil.test\n")
        # no terminal: shown, ignored with a warning, the sandbox is still made
        r = h.sbx("create", "--name", "wp1", "shell", ws, timeout=120)
        assert r.rc == 0, r
        assert "+ allow pypi.org sandbox=wp1" in r.err and "not applied" in r.err, r
        assert project_rules(h, "wp1") == set()
        # on a terminal: 'n' leaves it, 'y' applies it, for this sandbox only
        rc, out = run_tty(h, ["create", "--name", "wp1", "shell", ws], b"n")
        assert rc == 0 and "Not applied" in out, out
        assert project_rules(h, "wp1") == set()
        rc, out = run_tty(h, ["create", "--name", "wp1", "shell", ws], b"y")
        assert rc == 0 and "Applied" in out, out
        assert project_rules(h, "wp1") == {("allow", "pypi.org"), ("deny", "evil.test")}
        assert not any(s is None for (_, res, s, _) in rules(h) if res == "pypi.org")
        rec = json.loads((h.state_dir / "project-policy" / "wp1.json").read_text())
        assert rec["content"] == pf.read_text() and len(rec["sha256"]) == 64
        # unchanged: nothing asked, nothing said
        r = h.sbx("create", "--name", "wp1", "shell", ws, timeout=120)
        assert r.rc == 0 and ".sbx/policy" not in r.err, r
        # the user removes one of its rules: offered again, never re-added silently
        h.ok("policy", "rm", "network", "--resource", "evil.test", "--sandbox", "wp1", timeout=30)
        r = h.sbx("create", "--name", "wp1", "shell", ws, timeout=120)
        assert r.rc == 0 and "lost some of its rules" in r.err and "+ deny evil.test sandbox=wp1" in r.err, r
        assert project_rules(h, "wp1") == {("allow", "pypi.org")}
        rc, out = run_tty(h, ["create", "--name", "wp1", "shell", ws], b"y")
        assert rc == 0 and "Applied" in out, out
        assert project_rules(h, "wp1") == {("allow", "pypi.org"), ("deny", "evil.test")}
        # the agent changes it: the diff is shown, the change ignored without a terminal
        pf.write_text("allow pypi.org\nallow **\n")
        r = h.sbx("create", "--name", "wp1", "shell", ws, timeout=120)
        assert r.rc == 0, r
        assert "changed since you accepted it" in r.err, r
        assert "+ allow ** sandbox=wp1" in r.err and "- deny evil.test sandbox=wp1" in r.err, r
        assert project_rules(h, "wp1") == {("allow", "pypi.org"), ("deny", "evil.test")}
        # a project file may not choose the preset or another sandbox's rules
        pf.write_text("allow a.test sandbox=other\n")
        r = h.sbx("create", "--name", "wp1", "shell", ws, timeout=120)
        assert r.rc == 0 and "cannot name a sandbox" in r.err, r
        pf.write_text("allow ok.test\nallow bad..name\n")
        r = h.sbx("create", "--name", "wp1", "shell", ws, timeout=120)
        assert r.rc == 0 and f"{ws}/.sbx/policy:2:" in r.err and "ignored" in r.err, r
        # a symlink (to a file the user accepted elsewhere, say) is never followed
        other = h.base / "elsewhere.policy"
        other.write_text("allow **\n")
        pf.unlink()
        pf.symlink_to(other)
        r = h.sbx("create", "--name", "wp1", "shell", ws, timeout=120)
        assert r.rc == 0 and "a symlink" in r.err, r
        assert project_rules(h, "wp1") == {("allow", "pypi.org"), ("deny", "evil.test")}
        # removed: the removal is a change to accept too (it drops a deny)
        pf.unlink()
        rc, out = run_tty(h, ["create", "--name", "wp1", "shell", ws], b"y")
        assert rc == 0 and "was removed" in out and "- deny evil.test sandbox=wp1" in out, out
        assert project_rules(h, "wp1") == set()
        assert not (h.state_dir / "project-policy" / "wp1.json").exists()
    finally:
        h.close()


def test_workspace_policy_in_a_real_sandbox(sbx_bin):
    """End to end, in VMs: an accepted .sbx/policy opens a fake upstream for its own
    sandbox only; the agent then rewrites the file from inside the VM, and the next
    `sbx run` without a terminal shows the change and ignores it."""
    import http.server
    import threading
    from conftest import chown_to_agent

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"project upstream\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    port = srv.server_address[1]
    h = new_home("wv", policy="deny-all")
    try:
        h.ok("settings", "set", "proxy.resolve", f"proj.test:80=127.0.0.1:{port},evil.test:80=127.0.0.1:{port}",
             timeout=30)
        ws = h.workspace("projv")
        (ws / ".sbx").mkdir()
        (ws / ".sbx" / "policy").write_text("allow proj.test\n")
        chown_to_agent(ws)
        other = h.workspace("otherv")
        rc, out = run_tty(h, ["run", "-d", "--name", "pv", "shell", ws], b"y", timeout=300)
        assert rc == 0 and "Applied" in out, out
        h.ok("run", "-d", "--name", "ov", "shell", other, timeout=300)

        def code(name, url):
            r = h.sbx("exec", name, "curl", "-s", "-o", "/dev/null", "-m", "20", "-w", "%{http_code}", url,
                      timeout=120)
            return r.out.strip()

        assert code("pv", "http://proj.test/") == "200"
        assert code("ov", "http://proj.test/") == "403"
        assert code("pv", "http://evil.test/") == "403"
        # the agent widens its own allow-list from inside the VM
        h.ok("exec", "pv", "sh", "-c", f"echo 'allow **' >> {ws}/.sbx/policy", timeout=120)
        assert "allow **" in (ws / ".sbx" / "policy").read_text()
        h.ok("stop", "pv", timeout=120)
        r = h.sbx("run", "-d", "--name", "pv", "shell", ws, timeout=300)
        assert r.rc == 0, r
        assert "+ allow ** sandbox=pv" in r.err and "not applied" in r.err, r
        assert code("pv", "http://evil.test/") == "403"
        assert code("pv", "http://proj.test/") == "200"
    finally:
        h.close()
        srv.shutdown()
