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


def _fake_exec_sbxd(home, share):
    """A daemon that answers stream 0's JSON requests with {"ok": true} (status: not
    stale) and runs every exec stream as sbxd does for a command that exits 7 at once:
    READY (with CTRL_WS_SHARE when share), EXIT, CLOSE. Returns (socket, the requests'
    "op"s in the order they came, one list for every connection)."""
    import json
    import struct
    from conftest import fake_sbxd, sbxd_frame as frame
    seen = []

    def tlv_u32(tag, v):
        return struct.pack("<HII", tag, 4, v)

    def on_frame(c, t, st, payload, n):
        while len(seen) <= n:
            seen.append([])
        if t == 8 and st == 0 and payload.startswith(b"{"):    # CTRL: a JSON request
            seen[n].append(json.loads(payload)["op"])
            c.sendall(frame(8, 0, json.dumps({"ok": True, "stale": False}).encode()))
        elif t == 1:                                            # OPEN: an exec stream
            seen[n].append("exec")
            ready = tlv_u32(1, 3) + (tlv_u32(8, 1) if share else b"")
            c.sendall(frame(8, st, ready) + frame(8, st, tlv_u32(1, 7) + tlv_u32(6, 7)) + frame(4, st))

    return fake_sbxd(home, on_frame), seen


def test_exec_round_trips(tmp_path):
    """sbx exec asks whether sbxd is stale (status) before its exec, and sends no sync
    flush request when sbxd's READY says the workspace is the share itself; it does when
    READY does not say so (sync mode, or an older sbxd). That the status answer is not
    waited for is not seen here (the order is the same)."""
    for share, want in ((True, ["status", "exec"]), (False, ["status", "exec", "sync"])):
        home = tmp_path / f"home-{share}"
        lsock, seen = _fake_exec_sbxd(home, share)
        try:
            r = run(SBX_BIN, "exec", "sb", "true", env={**os.environ, "SBX_HOME": str(home)},
                    stdin=subprocess.DEVNULL)
        finally:
            lsock.close()
        assert r.returncode == 7, r
        assert seen == [want], (share, seen, r)
