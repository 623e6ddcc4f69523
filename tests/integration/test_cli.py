# SPDX-License-Identifier: MIT
# test_cli.py: --help, version, diagnose, template ls, and bad input that must fail cleanly.
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
    ["stop"],
    ["rm"],
    ["daemon"],
    ["daemon", "start"],
    ["daemon", "stop"],
    ["daemon", "status"],
    ["template"],
    ["template", "build"],
    ["template", "ls"],
    ["diagnose"],
    ["version"],
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
    for c in ("run", "create", "ls", "exec", "stop", "rm", "daemon", "template",
              "diagnose", "version"):
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
    if _host_is_pvm():
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
        assert "100000-165535" in lines["subids"], text
    else:
        assert re.search(r"subordinate uids \d+-\d+, gids \d+-\d+", lines["subids"]), text


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
    from conftest import SBX_BIN
    exe = tmp_path / "sbx"
    shutil.copy2(SBX_BIN, exe)
    env = {**fresh.env}
    run = lambda *a: subprocess.run([str(exe), *a], env=env, capture_output=True, text=True, timeout=60)
    assert run("daemon", "start").returncode == 0
    try:
        assert "older" not in run("ls").stderr
        shutil.copy2(SBX_BIN, tmp_path / "sbx.new")
        os.rename(tmp_path / "sbx.new", exe)        # a rebuild replaces the file
        r = run("ls")
        assert r.returncode == 0 and "older sbx build" in r.stderr, r
        assert "older sbx build" in run("daemon", "status").stdout
    finally:
        run("daemon", "stop")
    assert "older" not in run("ls").stderr
    run("daemon", "stop")
