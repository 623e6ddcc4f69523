# SPDX-License-Identifier: MIT
# test_cli_front.py: the front binary (sbx) and the full program it hands commands to (sbx-full).
"""``sbx`` is a small front (src/host/cli/front.c): it runs ``exec`` and ``ls`` itself,
loading no library (static-pie; libc alone in an ASan build), and hands every other command to ``sbx-full``, which it finds
from its own path only (beside it, or PREFIX/lib/sbx/), never through PATH, the
working directory or the environment. No VM needed."""

import os
import shutil
import subprocess

from conftest import FULL_BIN, SBX_BIN


def run(exe, *args, **kw):
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=60, **kw)


def test_front_loads_no_library_but_libc():
    out = subprocess.run(["readelf", "-d", str(SBX_BIN)], capture_output=True, text=True, check=True).stdout
    needed = sorted(line.split("[", 1)[1].rstrip("]") for line in out.splitlines() if "(NEEDED)" in line)
    # libc and the dynamic loader (always mapped for a dynamic program), or nothing (static)
    assert not set(needed) - {"libc.so.6", "ld-linux-x86-64.so.2"}, needed
    assert FULL_BIN.exists(), f"{FULL_BIN} missing"


def test_front_hands_over_commands_and_exit_codes(tmp_path):
    env = {**os.environ, "SBX_HOME": str(tmp_path / "home")}
    r = run(SBX_BIN, "--version", env=env)
    assert r.returncode == 0 and r.stdout.startswith("sbx "), r
    # handed to sbx-full: the same words and exit status as running it directly
    for args, rc in ((["version"], 0), (["help", "exec"], 0), (["exec", "--help"], 0), (["ls", "-h"], 0),
                     (["-q", "help", "ls"], 0), (["nope"], 2), (["help", "nope"], 2), ([], 2),
                     (["daemon", "status"], 3)):
        front, full = run(SBX_BIN, *args, env=env), run(FULL_BIN, *args, env=env)
        assert (front.returncode, front.stdout, front.stderr) == (rc, full.stdout, full.stderr), (args, front, full)
    # the front's own usage errors are the full program's
    for args in (["exec"], ["exec", "sb"], ["exec", "-w", "rel", "sb", "true"], ["ls", "extra"]):
        front, full = run(SBX_BIN, *args, env=env), run(FULL_BIN, *args, env=env)
        assert (front.returncode, front.stderr) == (2, full.stderr), (args, front, full)


def test_front_refuses_a_helper_not_beside_it(tmp_path):
    """The front alone (no sbx-full beside it, none in ../lib/sbx): a command it does not
    run itself fails with a clear error, and no sbx-full on PATH, in the working
    directory or named by the environment is run in its place."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    front = bindir / "sbx"
    shutil.copy2(SBX_BIN, front)
    decoy = tmp_path / "decoy"
    decoy.mkdir()
    marker = tmp_path / "decoy-ran"
    fake = decoy / "sbx-full"
    fake.write_text(f"#!/bin/sh\ntouch {marker}\n")
    fake.chmod(0o755)
    env = {**os.environ, "SBX_HOME": str(tmp_path / "home"), "PATH": f"{decoy}:{os.environ.get('PATH', '')}",
           "SBX_FULL": str(fake), "SBX_BIN": str(fake)}
    for args in (["version"], ["daemon", "start"], ["help"], ["exec", "--help"], ["run", "shell"]):
        r = run(front, *args, env=env, cwd=decoy)
        assert r.returncode == 127, (args, r)
        assert "sbx-full" in r.stderr and "reinstall sbx" in r.stderr, (args, r)
        assert not marker.exists(), args
    # ... and the same front finds it once it is beside it
    shutil.copy2(FULL_BIN, bindir / "sbx-full")
    r = run(front, "version", env=env, cwd=decoy)
    assert r.returncode == 0 and r.stdout.startswith("sbx "), r
    assert not marker.exists()
