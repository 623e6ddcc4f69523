# SPDX-License-Identifier: MIT
# test_cli.py: --help, version, diagnose, template ls, bad input that must fail cleanly, the
# documented command forms (options anywhere, exec NAME -- CMD, login), the help pages and
# man pages from one table, shell completion, and sbx reset.
import json
import os
import re
import subprocess

import pytest

from conftest import TEMPLATE

HELP_COMMANDS = [
    [],
    ["run"],
    ["create"],
    ["ls"],
    ["exec"],
    ["cp"],
    ["stop"],
    ["rm"],
    ["prune"],
    ["ports"],
    ["sync"],
    ["daemon"],
    ["daemon", "start"],
    ["daemon", "stop"],
    ["daemon", "status"],
    ["template"],
    ["template", "build"],
    ["template", "ls"],
    ["diagnose"],
    ["version"],
    ["reset"],
    ["policy"],
    ["secret"],
    ["secret", "set"],
    ["settings"],
    ["review"],
    ["help"],
    ["login"],
    ["logout"],
]


@pytest.mark.parametrize("cmd", HELP_COMMANDS, ids=lambda c: " ".join(c) or "sbx")
def test_help(fresh, cmd):
    r = fresh.sbx(*cmd, "--help", timeout=30)
    assert r.rc == 0, r
    assert re.search(r"usage", r.out, re.I), r
    if cmd:
        assert cmd[-1] in r.out, r
    # --help starts nothing and creates no sandbox.
    assert fresh.daemon_pid() is None
    assert not list((fresh.home / "state" / "sandboxes").glob("*"))


def test_help_lists_commands(fresh):
    out = fresh.ok("--help", timeout=30).out
    for c in ("run", "create", "ls", "exec", "cp", "stop", "rm", "prune", "ports", "reset", "policy", "secret", "settings",
              "review", "daemon", "template", "diagnose", "version", "sync"):
        assert re.search(rf"\b{c}\b", out), f"{c} missing from sbx --help:\n{out}"


def test_version(fresh):
    r = fresh.ok("version", timeout=30)
    assert re.search(r"\d+\.\d+", r.out), r


def test_diagnose(sbx):
    r = sbx.ok("diagnose", timeout=120)
    text = r.out + r.err
    for word in ("kvm", "qemu", "virtiofsd", "kernel", "template", "daemon"):
        assert word in text.lower(), f"diagnose does not mention {word}:\n{text}"
    # This machine's /dev/kvm is PVM: diagnose must say TCG will be used and why.
    if _host_is_pvm() and not os.access("/dev/kvm", os.R_OK | os.W_OK):
        # a /dev/kvm this user may not open: TCG, and the group fix (whatever it is)
        assert "tcg" in text.lower(), text
        assert "not in group kvm" in text and "usermod -aG kvm" in text, text
    elif _host_is_pvm():
        assert "tcg" in text.lower(), text
        assert "pvm" in text.lower(), text
    elif not os.path.exists("/dev/kvm"):
        # no /dev/kvm at all: say so, and do not blame PVM
        assert "no /dev/kvm" in text and "pvm" not in text.lower(), text
    # what an ordinary user needs: user namespaces and subordinate ids
    lines = {ln.split()[0]: ln for ln in r.out.splitlines() if ln and not ln.startswith(" ")}
    assert " ok " in lines["userns"], text
    assert " ok " in lines["subids"], text
    if os.getuid() == 0:
        assert "1000000000-1067108863" in lines["subids"], text
    else:
        assert re.search(r"subordinate uids \d+-\d+, gids \d+-\d+: \d+ sandboxes can run at once", lines["subids"]), text


def _host_is_pvm():
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return False
    hw = re.search(r"^flags\s*:.*\b(vmx|svm)\b", flags, re.M)
    return os.path.exists("/dev/kvm") and not hw


def test_template_ls(sbx):
    r = sbx.ok("template", "ls", timeout=60)
    assert re.search(rf"^\s*{TEMPLATE}\b", r.out, re.M), r


def test_unknown_command(fresh):
    r = fresh.sbx("frobnicate", timeout=30)
    assert r.rc != 0
    assert "frobnicate" in r.err, r


def test_unknown_option(fresh):
    r = fresh.sbx("ls", "--no-such-option", timeout=30)
    assert r.rc != 0
    assert r.err.strip(), r


# --- bad input: clear message on stderr, non-zero exit, nothing left behind ---

def _nothing_left(h, before_names=()):
    sbdir = h.home / "state" / "sandboxes"
    left = sorted(p.name for p in sbdir.glob("*")) if sbdir.exists() else []
    assert left == sorted(before_names), f"left behind: {left}"
    vms = h.home / "run" / "vms"
    vm_left = sorted(p.name for p in vms.glob("*")) if vms.exists() else []
    assert vm_left == [], f"VM dirs left behind: {vm_left}"


def _clear_error(r, *words):
    assert r.rc != 0, r
    assert r.err.strip(), f"no message on stderr: {r!r}"
    assert "Traceback" not in r.err and "Segmentation" not in r.err, r
    for w in words:
        assert w in r.err, f"stderr should mention {w!r}: {r!r}"


@pytest.fixture(scope="module")
def bad(sbx_bin, sbx):
    """One home for the bad-input tests (they create nothing, or one named sandbox)."""
    from conftest import new_home
    h = new_home("bad")
    yield h
    h.close()


@pytest.mark.parametrize("verb", ["run", "create"])
def test_unknown_agent(bad, verb):
    ws = bad.workspace()
    r = bad.sbx(verb, "nosuchagent", ws, timeout=60)
    _clear_error(r, "nosuchagent")
    _nothing_left(bad)


def test_unknown_template(bad):
    ws = bad.workspace()
    r = bad.sbx("create", "-t", "nosuchtemplate", "shell", ws, timeout=60)
    _clear_error(r, "nosuchtemplate")
    _nothing_left(bad)
    r = bad.sbx("run", "-t", "nosuchtemplate", "shell", ws, "--", "true", timeout=60)
    _clear_error(r, "nosuchtemplate")
    _nothing_left(bad)


@pytest.mark.parametrize("verb", ["run", "create"])
def test_missing_workspace(bad, verb):
    missing = bad.base / "does-not-exist" / "proj"
    r = bad.sbx(verb, "shell", missing, timeout=60)
    _clear_error(r, "does-not-exist")
    _nothing_left(bad)


def test_workspace_is_a_file(bad):
    f = bad.base / "plainfile"
    f.write_text("x")
    r = bad.sbx("create", "shell", f, timeout=60)
    _clear_error(r)
    _nothing_left(bad)


@pytest.mark.parametrize("name", ["bad/name", "", "x" * 200, "..", "-lead", "a b"],
                         ids=["slash", "empty", "200chars", "dotdot", "dash", "space"])
def test_invalid_name(bad, name):
    ws = bad.workspace()
    r = bad.sbx("create", "--name", name, "shell", ws, timeout=60)
    _clear_error(r)
    assert "name" in r.err.lower(), r
    _nothing_left(bad)


@pytest.mark.parametrize("args", [["--cpus", "0"], ["--cpus", "many"], ["-m", "lots"], ["-m", "0"],
                                  ["-e", "NOEQUALS"]],
                         ids=["cpus0", "cpusword", "memword", "mem0", "envnoeq"])
def test_invalid_resources(bad, args):
    ws = bad.workspace()
    r = bad.sbx("create", *args, "shell", ws, timeout=60)
    _clear_error(r)
    _nothing_left(bad)


def test_duplicate_name_other_workspace(bad):
    ws1, ws2 = bad.workspace(), bad.workspace()
    bad.ok("create", "--name", "dup", "shell", ws1, timeout=120)
    try:
        r = bad.sbx("create", "--name", "dup", "shell", ws2, timeout=60)
        _clear_error(r, "dup")
        r = bad.sbx("run", "--name", "dup", "shell", ws2, "--", "true", timeout=60)
        _clear_error(r, "dup")
        info = bad.ls_json()["dup"]
        assert info["workspace"] == str(ws1.resolve()), info
        assert info["status"] == "stopped", info
        _nothing_left(bad, ["dup"])
    finally:
        bad.ok("rm", "dup", timeout=120)
    _nothing_left(bad)


@pytest.mark.parametrize("verb", [["exec"], ["stop"], ["rm"], ["exec", "-i"]],
                         ids=["exec", "stop", "rm", "exec-i"])
def test_missing_sandbox(bad, verb):
    args = [*verb, "nosuchbox"]
    if verb[0] == "exec":
        args.append("true")
    r = bad.sbx(*args, timeout=60)
    _clear_error(r, "nosuchbox")
    _nothing_left(bad)


def test_exec_without_command(bad):
    r = bad.sbx("exec", "nosuchbox", timeout=60)
    _clear_error(r)
    _nothing_left(bad)


def test_run_without_policy_names_policy_init(sbx_bin):
    """Before any network preset is chosen, run and create refuse and say how to choose."""
    from conftest import new_home
    h = new_home("np", policy=None)
    ws = h.workspace("np")
    for cmd in (("run", "shell", ws, "--", "true"), ("create", "shell", ws)):
        r = h.sbx(*cmd, timeout=60)
        assert r.rc != 0, r
        assert "sbx policy init" in r.err, r
    assert not any(h.state_dir.glob("sandboxes/*")), "nothing may be created without a policy"


def test_daemon_from_an_older_build_is_noticed(fresh, tmp_path):
    """After sbx is rebuilt, a daemon still running the old binary is pointed out."""
    import shutil
    from conftest import FULL_BIN, SBX_BIN
    exe = tmp_path / "sbx"
    shutil.copy2(SBX_BIN, exe)
    shutil.copy2(FULL_BIN, tmp_path / "sbx-full")   # the front runs the daemon from it
    env = {**fresh.env}
    run = lambda *a: subprocess.run([str(exe), *a], env=env, capture_output=True, text=True, timeout=60)
    assert run("daemon", "start").returncode == 0
    try:
        assert "older" not in run("ls").stderr
        shutil.copy2(FULL_BIN, tmp_path / "sbx.new")
        os.rename(tmp_path / "sbx.new", tmp_path / "sbx-full")  # a rebuild replaces the file
        r = run("ls")
        assert r.returncode == 0 and "older sbx build" in r.stderr, r
        assert "older sbx build" in run("daemon", "status").stdout
    finally:
        run("daemon", "stop")
    assert "older" not in run("ls").stderr
    run("daemon", "stop")


# A hostile guest's words, as sbxd hands them to the CLI (an OP_ERROR of an exec, a
# console tail in an "error"): title change, OSC 8 link, 8-bit and UTF-8 C1 CSI,
# clipboard write (OSC 52 in C1), bidi override.
EVIL = ("\x1b]0;owned\x07 \x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\ \u009b2J \u009b1m "
        "\u009d52;c;Zm9v\u009c \u202eevil")


def _fake_sbxd(home):
    """Answers every JSON request with {"ok": false, "error": EVIL} and every stream
    (an exec) with an OP_ERROR of EVIL, like a daemon relaying a guest's error."""
    import struct
    from conftest import fake_sbxd, sbxd_frame as frame
    # JSON carries text; the TLV path carries bytes, so there the CSI is a raw 8-bit one
    evil = EVIL.encode().replace("\u009b2J".encode(), b"\x9b2J")

    def on_frame(c, t, st, payload, n):
        if t == 8 and st == 0:          # CTRL: a JSON request
            c.sendall(frame(8, 0, json.dumps({"ok": False, "error": EVIL}).encode()))
        elif t == 1:                      # OPEN: an exec stream
            tlv = struct.pack("<HII", 1, 4, 4) + struct.pack("<HI", 2, len(evil)) + evil
            c.sendall(frame(8, st, tlv) + frame(5, st))

    return fake_sbxd(home, on_frame)


def test_error_text_from_sbxd_is_escaped(tmp_path):
    """Hole 7a: error text the daemon relays (often the guest's) reaches the terminal
    with no byte a terminal acts on: C0/C1 controls, bidi controls, invalid UTF-8."""
    from conftest import SBX_BIN
    home = tmp_path / "home"
    lsock = _fake_sbxd(home)
    env = {**os.environ, "SBX_HOME": str(home)}
    try:
        for args in (["ls"], ["exec", "sb", "true"]):
            r = subprocess.run([str(SBX_BIN), *args], env=env, capture_output=True, timeout=30)
            err = r.stderr
            assert r.returncode != 0, (args, r)
            assert b"owned" in err and b"evil" in err, (args, err)
            text = err.decode("utf-8")        # valid UTF-8 only
            bad = [ch for ch in text if (ord(ch) < 0x20 and ch not in "\n\t") or 0x7f <= ord(ch) <= 0x9f
                   or ord(ch) in (0x200e, 0x200f, 0x2028, 0x2029, 0x61c) or 0x202a <= ord(ch) <= 0x202e
                   or 0x2066 <= ord(ch) <= 0x2069]
            assert not bad, (args, err)
            assert "\\e]0;owned\\x07" in text and "\\u{009b}1m" in text and "\\u{202e}evil" in text, text
            assert ("\\x9b2J" if args[0] == "exec" else "\\u{009b}2J") in text, (args, text)
    finally:
        lsock.close()


def test_policy_check_refuses_the_hosts_own_addresses(fresh):
    """`policy check` says what the engine does: the host's own addresses are refused
    whatever the rules; a localhost:PORT rule opens host.docker.internal only."""
    fresh.ok("policy", "init", "allow-all", timeout=60)
    fresh.ok("policy", "allow", "network", "localhost:3000,127.0.0.1:8080,[::1]:8080", timeout=60)
    for target in ("127.0.0.1:8080", "127.0.0.1:3000", "127.0.0.2:3000", "[::1]:8080", "localhost:3000"):
        r = fresh.sbx("policy", "check", "network", target, timeout=60)
        assert r.rc == 1 and r.out.startswith("deny "), (target, r)
        assert "host.docker.internal:" in r.out, (target, r)
    for target in ("host.docker.internal:3000", "host.sbx.internal:3000"):
        r = fresh.sbx("policy", "check", "network", target, timeout=60)
        assert r.rc == 0 and r.out.startswith("allow "), (target, r)


# --- the documented command forms (Docker Sandboxes' docs), verbatim ----------------

@pytest.mark.parametrize("verb", ["login", "logout"])
def test_login_logout_need_no_account(fresh, verb):
    r = fresh.sbx(verb, timeout=30)
    assert r.rc == 0, r
    assert "no account" in r.out, r
    assert fresh.daemon_pid() is None


def test_options_after_agent_and_path_are_parsed(bad):
    """`sbx run AGENT [PATH] --opt`: an option after AGENT (or PATH) is an option, not a
    second workspace; a bad one is refused by name, before anything is made."""
    ws = bad.workspace()
    for args, word in ((["run", "shell", "--cpus", "0"], "--cpus"),
                       (["run", "shell", ws, "--cpus", "0", "--", "true"], "--cpus"),
                       (["run", "shell", ws, "--cpus", "0"], "--cpus"),
                       (["create", "shell", ws, "-m", "lots"], "--memory"),
                       (["run", "claude", "--branch", "bad..name"], "--branch"),
                       (["create", "shell", "--env", "NOEQUALS", ws], "--env")):
        for env in (None, {"POSIXLY_CORRECT": "1"}):
            r = bad.sbx(*args, timeout=60, env=env)
            _clear_error(r, word)
            assert "only one workspace" not in r.err, r
    _nothing_left(bad)


@pytest.mark.parametrize("verb", [["rm", "nosuchbox", "-f"], ["rm", "nosuchbox", "--force"]],
                         ids=["rm-f-after", "rm-force-after"])
@pytest.mark.parametrize("posix", [False, True], ids=["gnu", "POSIXLY_CORRECT"])
def test_names_then_options(bad, verb, posix):
    """`sbx rm NAME -f`: options after the names are options (also with POSIXLY_CORRECT)."""
    r = bad.sbx(*verb, timeout=60, env={"POSIXLY_CORRECT": "1"} if posix else None)
    _clear_error(r, "nosuchbox")
    assert "invalid sandbox name '-f'" not in r.err and "-f" not in r.err, r


@pytest.mark.parametrize("args", [["nosuchbox", "--", "ps", "aux"],
                                  ["-u", "root", "nosuchbox", "-w", "/tmp", "--", "ps", "aux"],
                                  ["nosuchbox", "-i", "ps", "aux"]],
                         ids=["dashdash", "opts-around-name", "opt-after-name"])
def test_exec_forms_reach_the_sandbox(bad, args):
    """`sbx exec NAME -- CMD`: the -- is a separator, never the command; options may come
    before and after NAME. Here the sandbox does not exist, and that is the error."""
    r = bad.sbx("exec", *args, timeout=60)
    _clear_error(r, "nosuchbox")
    assert "No such file" not in r.err and "'--'" not in r.err, r


def test_exec_refuses_unknown_option_before_the_command(bad):
    r = bad.sbx("exec", "nosuchbox", "--bogus", "ls", timeout=60)
    _clear_error(r, "--bogus", "--")
    assert r.rc == 2, r
    r = bad.sbx("exec", "nosuchbox", "--", timeout=60)
    assert r.rc == 2 and "CMD" in r.err, r
    r = bad.sbx("exec", "nosuchbox", "-u", timeout=60)
    assert r.rc == 2 and "-u needs a value" in r.err, r


@pytest.mark.parametrize("args", [["policy", "--json", "ls"], ["secret", "--json", "ls"],
                                  ["settings", "--json", "ls"], ["template", "--json", "ls"],
                                  ["ls", "--json"], ["ls", "-q"]])
def test_family_options_before_the_subcommand(fresh, args):
    r = fresh.sbx(*args, timeout=60)
    assert r.rc == 0, r
    if "--json" in args:
        json.loads(r.out)


def _git_repo(h, name):
    ws = h.workspace(name)
    env = dict(os.environ, GIT_CONFIG_NOSYSTEM="1")
    for a in (["init", "-q", "-b", "main"], ["config", "user.email", "a@example.com"],
              ["config", "user.name", "A"], ["commit", "-q", "--allow-empty", "-m", "init"]):
        subprocess.run(["git", "-c", "safe.directory=*", "-C", str(ws), *a], check=True, env=env,
                       capture_output=True)
    from conftest import chown_to_agent
    chown_to_agent(ws)
    return ws


def test_create_with_options_after_agent_and_ls_columns(fresh):
    """`sbx create claude --branch feature/api-refactor` (the documented form, options after
    the agent) makes the sandbox; `sbx ls` keeps its columns aligned around its long name."""
    ws = _git_repo(fresh, "api-service-with-a-long-name")
    r = fresh.ok("create", "claude", "--branch", "feature/api-refactor", "-t", TEMPLATE, "--cpus", "1",
                 timeout=180, cwd=ws)
    name = r.out.strip().splitlines()[-1]
    assert "feature" in name and "api-refactor" in name, r
    fresh.ok("create", "shell", ws, "--name", "short", "-m", "512M", timeout=180)
    info = fresh.ls_json()
    assert info[name]["branch"] == "feature/api-refactor", info
    assert info[name]["workspace"] == f"{ws}.sbx/{name}", info
    assert set(info) == {name, "short"}, info
    lines = fresh.ok("ls", timeout=60).out.splitlines()
    assert lines[0].startswith("SANDBOX"), lines
    col = lines[0].index("WORKSPACE")
    for ln in lines[1:]:
        assert ln[col - 2:col] == "  " and ln[col] == "/", (col, lines)
    for hdr in ("AGENT", "STATUS", "CPU", "MEM"):
        c = lines[0].index(hdr)
        assert all(ln[c - 2:c] == "  " and ln[c] != " " for ln in lines[1:]), lines
    fresh.ok("rm", name, "short", timeout=180)


def test_exec_dashdash_runs_the_command(box):
    """The documented `sbx exec NAME -- ps aux`, options around NAME, and a command's own
    options passed through untouched."""
    r = box.ok("--", "ps", "aux", timeout=120)
    assert "PID" in r.out, r
    r = box.home.sbx("exec", "-u", "root", box.name, "-e", "X=1", "--", "sh", "-c", 'echo "$(id -u) $X"',
                     timeout=120)
    assert r.rc == 0 and r.out.split() == ["0", "1"], r
    r = box.home.sbx("exec", box.name, "sh", "-c", 'echo "$@"', "sh", "--help", "-u", "x", "--", timeout=120)
    assert r.rc == 0 and r.out.strip() == "--help -u x --", r


# --- help pages, man pages and completion from one table ---------------------------

def _man_pages(h):
    pages = h.ok("__man", "--list", timeout=30).out.split()
    assert {"run", "exec", "reset", "policy", "secret", "settings"} <= set(pages), pages
    return pages


def _roff_words(src):
    """The words of a man page body: NAME and SEE ALSO dropped, requests and fonts gone."""
    out, skip = [], False
    for ln in src.splitlines():
        if ln.startswith(".SH"):
            skip = ln.split()[1] in ("NAME", "\"SEE", "SEE")
            continue
        if skip or ln.startswith(".") and not ln.startswith("\\&"):
            continue
        ln = re.sub(r"\\f[BIR]", "", ln).replace("\\-", "-").replace("\\&", "").replace("\\e", "\\")
        out += ln.split()
    return out


def _help_words(text):
    """The words of --help: 'Usage:' and the section headings dropped."""
    out = []
    for ln in text.splitlines():
        if ln in ("Commands:", "Options:", "Services:", "Keys:", "Examples:", "Exit status:", "Environment:"):
            continue    # the man page's .SH headings
        if ln.startswith("Usage: "):
            ln = ln[len("Usage: "):]
        out += ln.split()
    return out


def test_man_pages_match_help(fresh):
    """Every man page says what --help says, word for word (they are made from one table),
    and troff renders them without a warning."""
    for page in [None, *_man_pages(fresh)]:
        src = fresh.ok("__man", *([page] if page else []), timeout=30).out
        hlp = fresh.ok(*([page, "--help"] if page else ["help"]), timeout=30).out
        assert _roff_words(src) == _help_words(hlp), f"sbx-{page}(1) and --help differ"
        assert src.startswith(".TH SBX"), src[:80]


def test_man_pages_render_cleanly(fresh, tmp_path):
    import shutil
    for tool in ("groff", "mandoc", "man"):   # scripts/setup.sh installs them
        assert shutil.which(tool), f"{tool} is missing: run scripts/setup.sh --deps-only"
    for page in [None, *_man_pages(fresh)]:
        f = tmp_path / (f"sbx-{page}.1" if page else "sbx.1")
        f.write_text(fresh.ok("__man", *([page] if page else []), timeout=30).out)
        r = subprocess.run(["groff", "-ww", "-z", "-man", str(f)], capture_output=True, text=True)
        assert r.returncode == 0 and not r.stderr, (f.name, r.stderr)
        r = subprocess.run(["mandoc", "-Tlint", "-W", "warning", str(f)], capture_output=True, text=True)
        assert r.returncode == 0 and not (r.stdout + r.stderr).strip(), (f.name, r.stdout, r.stderr)
        r = subprocess.run(["man", "-l", str(f)], capture_output=True, text=True, env={**os.environ,
                           "MANWIDTH": "80", "MANPAGER": "cat", "PAGER": "cat"})
        assert r.returncode == 0 and "NAME" in r.stdout and not r.stderr.strip(), (f.name, r.stderr)


def _bash_completion_file():
    from conftest import REPO, SBX_BIN
    installed = SBX_BIN.parent.parent / "share" / "bash-completion" / "completions" / "sbx"
    return installed if installed.exists() else REPO / "completion" / "sbx.bash"


def _complete(h, tmp_path, *words):
    """COMPREPLY of the bash completion for `sbx WORDS...` (the last word is the one being
    completed), with sbx on PATH as bash would find it."""
    from conftest import SBX_BIN
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    if not (bindir / "sbx").exists():
        (bindir / "sbx").symlink_to(SBX_BIN)
    script = ('source "$1"; shift; COMP_WORDS=(sbx "$@"); COMP_CWORD=$#; _sbx; '
              'printf "%s\\n" "${COMPREPLY[@]}"')
    r = subprocess.run(["bash", "--norc", "--noprofile", "-c", script, "bash", str(_bash_completion_file()),
                        *words], capture_output=True, text=True, timeout=30,
                       env={**h.env, "PATH": f"{bindir}:{os.environ.get('PATH', '/usr/bin:/bin')}"})
    assert r.returncode == 0 and not r.stderr, r
    return [w for w in r.stdout.splitlines() if w]


def test_bash_completion(fresh, tmp_path):
    sbdir = fresh.home / "state" / "sandboxes"
    sbdir.mkdir(parents=True, exist_ok=True)
    (sbdir / "compbox").mkdir()
    assert _complete(fresh, tmp_path, "")[:3] == ["run", "create", "ls"]
    assert "reset" in _complete(fresh, tmp_path, "")
    assert _complete(fresh, tmp_path, "re") == ["reset", "review"]
    assert _complete(fresh, tmp_path, "run", "--br") == ["--branch"]
    assert _complete(fresh, tmp_path, "run", "claude", "--br") == ["--branch"]
    assert TEMPLATE in _complete(fresh, tmp_path, "run", "--template", "")
    assert _complete(fresh, tmp_path, "exec", "comp") == ["compbox"]
    assert _complete(fresh, tmp_path, "exec", "-u", "root", "compbox", "-") == \
        ["--interactive", "--tty", "--user", "--workdir", "--env", "--help"]
    assert _complete(fresh, tmp_path, "stop", "x", "") == ["compbox"]
    assert _complete(fresh, tmp_path, "secret", "set", "anth") == ["anthropic"]
    assert _complete(fresh, tmp_path, "settings", "set", "proxy.up") == ["proxy.upstreamCA"]
    assert _complete(fresh, tmp_path, "policy", "init", "") == ["allow-all", "balanced", "deny-all"]
    assert _complete(fresh, tmp_path, "policy", "")[:2] == ["init", "set-default"]
    assert _complete(fresh, tmp_path, "help", "dia") == ["diagnose"]
    assert fresh.daemon_pid() is None, "completion must not start the daemon"


def _completion_file(installed_rel, repo_name):
    from conftest import REPO, SBX_BIN
    installed = SBX_BIN.parent.parent / "share" / installed_rel
    return installed if installed.exists() else REPO / "completion" / repo_name


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_fish_completion(fresh, tmp_path, shell):
    """The zsh and fish scripts reach the same candidates (scripts/setup.sh installs both shells)."""
    import shutil
    from conftest import SBX_BIN
    assert shutil.which(shell), f"{shell} is missing: run scripts/setup.sh --deps-only"
    (fresh.home / "state" / "sandboxes" / "zbox").mkdir(parents=True)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "sbx").symlink_to(SBX_BIN)
    env = {**fresh.env, "PATH": f"{bindir}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
    if shell == "zsh":
        f = _completion_file("zsh/vendor-completions/_sbx", "_sbx")
        script = ("compadd() { [[ $1 == -a ]] && print -l -- ${(P)2}; }; _files() { print FILES $@; }; "
                  f"words=(sbx exec zb); CURRENT=3; source {f}; "
                  f"words=(sbx run claude --br); CURRENT=4; source {f}; "
                  f"words=(sbx run shell ''); CURRENT=4; source {f}")
        want = ["zbox", "--branch", "FILES -/"]
        argv = ["zsh", "-f", "-c", script]
    else:
        f = _completion_file("fish/vendor_completions.d/sbx.fish", "sbx.fish")
        script = (f"source {f}; complete -C 'sbx exec zb'; complete -C 'sbx run claude --br'; "
                  "complete -C 'sbx secret set anth'")
        want = ["zbox", "--branch", "anthropic"]
        argv = ["fish", "--no-config", "-c", script]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 0 and r.stdout.split("\n")[:3] == want, (r.stdout, r.stderr)


# --- sbx reset ---------------------------------------------------------------------

def _reset_home():
    """A home whose cache is its own (reset removes templates): the kernel and the
    minimal template linked from the shared cache, never removed through the links."""
    from conftest import new_home, shared_cache_dir
    h = new_home("rs")
    (h.home / "cache").unlink()
    (h.home / "cache" / "templates").mkdir(parents=True, mode=0o700)
    shared = shared_cache_dir()
    (h.home / "cache" / "kernel").symlink_to(shared / "kernel")
    (h.home / "cache" / "templates" / TEMPLATE).symlink_to(shared / "templates" / TEMPLATE)
    return h, shared


def test_reset(sbx):
    h, shared = _reset_home()
    try:
        ws = h.workspace()
        h.ok("create", "shell", ws, "--name", "rs1", timeout=180)
        h.ok("settings", "set", "proxy.dnsServers", "1.1.1.1", timeout=30)
        h.ok("secret", "set", "anthropic", input=b"sk-ant-test-value\n", timeout=30)
        h.ok("secret", "set", "--sandbox", "rs1", "openai", input=b"sk-openai-sandbox\n", timeout=30)

        # without a terminal and without -f: refused, nothing removed
        r = h.sbx("reset", timeout=60)
        assert r.rc == 2 and "-f" in r.err, r
        assert h.names() == ["rs1"]

        # on a terminal: lists what goes, and "n" keeps everything
        out, rc = _reset_on_tty(h, "n\n")
        assert rc == 1 and "Nothing removed" in out, out
        for word in ("rs1", TEMPLATE, "proxy.dnsServers", "policy", "global secrets stay"):
            assert word in out, (word, out)
        assert h.names() == ["rs1"]

        r = h.sbx("reset", "-f", timeout=300)
        assert r.rc == 0, r
        assert h.names() == []
        assert not list((h.home / "cache" / "templates").iterdir())
        assert (shared / "templates" / TEMPLATE / "meta.json").exists(), "the shared template went!"
        assert (h.home / "cache" / "kernel").is_symlink(), "the kernel stays"
        assert not (h.home / "config" / "settings.json").exists()
        assert not (h.home / "config" / "policy.json").exists()
        assert "sbx policy init" in h.sbx("create", "shell", ws, timeout=60).err
        secrets = json.loads(h.ok("secret", "ls", "--json", timeout=30).out)
        kept = sorted((s.get("sandbox"), s["service"]) for s in secrets)
        assert kept == [(None, "anthropic")], secrets      # rs1's own secret went with it
        assert "sk-ant" not in r.out + r.err

        r = h.sbx("reset", "-f", "--secrets", timeout=60)
        assert r.rc == 0 and "anthropic" in r.out, r
        assert json.loads(h.ok("secret", "ls", "--json", timeout=30).out) == []
        assert "Nothing to reset" in h.ok("reset", "-f", timeout=30).out
    finally:
        h.close()


def _reset_on_tty(h, answer):
    """`sbx reset` with a terminal on stdin and stdout, typing answer; (output, rc)."""
    import pty
    from conftest import SBX_BIN
    mfd, sfd = pty.openpty()
    p = subprocess.Popen([str(SBX_BIN), "reset"], stdin=sfd, stdout=sfd, stderr=sfd, env=h.env)
    os.close(sfd)
    out = b""
    os.write(mfd, answer.encode())
    while True:
        try:
            d = os.read(mfd, 4096)
        except OSError:
            break
        if not d:
            break
        out += d
    rc = p.wait(timeout=60)
    os.close(mfd)
    return out.decode(errors="replace"), rc
