# SPDX-License-Identifier: MIT
# test_local_dirs.py: `sbx run --local DIR`: a workspace directory kept on the VM's own disk
# (docs/workspace-io.md): not shared with the host, kept across stop/start, shown by ls,
# checked at create; a symbolic link in its place is refused, not followed.
import json
import os

BOOT_S = 240


def test_local_dir_stays_in_the_vm(fresh):
    ws = fresh.workspace()
    (ws / "keep.txt").write_text("shared\n")
    r = fresh.sbx("run", "--name", "loc", "--local", "node_modules", "--local", "build/out", "shell", ws, "--",
                  "sh", "-c",
                  f"cd {ws} && mkdir -p node_modules/pkg && for i in $(seq 50); do echo $i > node_modules/pkg/f$i; "
                  "done && echo out > build/out/bin && echo guest > shared.txt && "
                  "stat -c %U node_modules build/out && ls node_modules/pkg | wc -l", timeout=BOOT_S)
    assert r.rc == 0, (r, fresh.diag())
    lines = r.out.split()
    assert lines[-1] == "50", r
    # the mount points belong to the agent in the guest
    assert lines[0] == lines[1] == "agent", r
    # the host sees the directories (made as the user's), empty: their files are the VM's
    assert (ws / "node_modules").is_dir() and list((ws / "node_modules").iterdir()) == []
    assert (ws / "build" / "out").is_dir() and list((ws / "build" / "out").iterdir()) == []
    if os.getuid() == 0:
        assert (ws / "node_modules").stat().st_uid == 1000
    else:
        assert (ws / "node_modules").stat().st_uid == os.getuid()
    # the rest of the workspace is shared as always
    assert (ws / "shared.txt").read_text() == "guest\n"
    # kept across stop/start
    fresh.ok("stop", "loc", timeout=120)
    r = fresh.sbx("exec", "loc", "sh", "-c", f"cat {ws}/node_modules/pkg/f50 {ws}/build/out/bin", timeout=BOOT_S)
    assert r.rc == 0 and r.out.split() == ["50", "out"], r
    # and shown by ls
    ls = json.loads(fresh.ok("ls", "--json").out)
    assert [s.get("local") for s in ls if s["name"] == "loc"] == [["node_modules", "build/out"]], ls
    table = fresh.ok("ls").out
    assert "(local: node_modules,build/out)" in table, table


def test_local_dir_is_checked_at_create(fresh):
    ws = fresh.workspace()
    for bad in ("../up", "/abs", ".git", ".git/hooks", "a/./b", "a//b", "x/"):
        r = fresh.sbx("create", "--name", "bad", "--local", bad, "shell", ws, timeout=60)
        assert r.rc == 2 and "--local" in r.err, (bad, r)
    assert "bad" not in fresh.sbx("ls", "-q").out.split()
    r = fresh.sbx("create", "--name", "dup", "--local", "a", "--local", "a", "shell", ws, timeout=60)
    assert r.rc != 0 and "twice" in r.err, r
    # set at create: another set on an existing sandbox is refused
    fresh.ok("create", "--name", "once", "--local", "node_modules", "shell", ws, timeout=60)
    r = fresh.sbx("create", "--name", "once", "--local", "target", "shell", ws, timeout=60)
    assert r.rc != 0 and "set when a sandbox is created" in r.err, r


def test_symlink_in_place_of_a_local_dir_is_not_followed(fresh):
    """A workspace symlink where the local directory goes (the host's or an earlier
    guest's) would steer the bind mount elsewhere in the VM: the start fails instead."""
    ws = fresh.workspace()
    os.symlink("/etc", ws / "node_modules")
    r = fresh.sbx("run", "--name", "lnk", "--local", "node_modules", "shell", ws, "--", "true", timeout=BOOT_S)
    assert r.rc != 0, r
    assert "--local node_modules" in r.err and "symbolic link" in r.err, r
    pid = fresh.daemon_pid()
    assert pid, "sbxd died"
    assert os.readlink(ws / "node_modules") == "/etc"


def test_local_dir_in_a_claimed_pool_vm(sbx_bin, sbx):
    """A warm pool VM's workspace is a stage bound in at claim: --local works there too."""
    import re
    from conftest import new_home, wait_until
    h = new_home("locpool", pool=1)
    try:
        h.ok("daemon", "start", timeout=60)
        assert wait_until(lambda: re.search(r"pool-\S+\s+minimal\s+ready", h.sbx("ls").out), BOOT_S, interval=1), \
            h.diag()
        ws = h.workspace()
        r = h.sbx("run", "--name", "lp", "--local", "node_modules", "shell", ws, "--", "sh", "-c",
                  f"echo x > {ws}/node_modules/f && echo y > {ws}/g && grep -c ' {ws}/node_modules ' /proc/mounts",
                  timeout=BOOT_S)
        assert r.rc == 0 and r.out.strip() == "1", (r, h.diag())
        assert "lp: claimed pool VM " in (h.state_dir / "sbxd.log").read_text(errors="replace")
        assert list((ws / "node_modules").iterdir()) == [] and (ws / "g").read_text() == "y\n"
    finally:
        h.close()


def test_local_dirs_and_sync_mode_are_refused_together(fresh):
    """The sync engine would copy a local directory's files to the host."""
    ws = fresh.workspace()
    r = fresh.sbx("create", "--name", "lsync", "--local", "node_modules", "--workspace-mode", "sync", "shell", ws,
                  timeout=60)
    assert r.rc != 0 and "--local does not go with --workspace-mode sync" in r.err, r
    assert "lsync" not in fresh.sbx("ls", "-q").out.split()
