# SPDX-License-Identifier: MIT
# test_workspace.py: the workspace at the same absolute path both ways, its owner, its borders.
import os
import secrets
import shutil
import stat
import tempfile
from pathlib import Path

import pytest

from conftest import agent_uid, wait_until


def test_workspace_mounted_at_same_path(box):
    ws = str(box.ws.resolve())
    mounts = box.ok("cat", "/proc/mounts").out.splitlines()
    fstypes = [m.split()[2] for m in mounts if m.split()[1] == ws]
    assert fstypes == ["virtiofs"], mounts


def test_host_file_visible_in_guest(box):
    token = secrets.token_hex(8)
    (box.ws / "from_host.txt").write_text(f"host says {token}\n")
    sub = box.ws / "sub" / "dir"
    sub.mkdir(parents=True)
    (sub / "deep.txt").write_text(token)
    assert box.ok("cat", f"{box.ws}/from_host.txt").out == f"host says {token}\n"
    assert box.ok("cat", "sub/dir/deep.txt").out == token


def test_guest_file_visible_on_host_with_owner(box):
    token = secrets.token_hex(8)
    box.ok("sh", "-c", f"mkdir -p made/in/guest && echo {token} > made/in/guest/f.txt")
    f = box.ws / "made" / "in" / "guest" / "f.txt"
    assert f.read_text() == f"{token}\n"
    st = f.stat()
    assert st.st_uid == agent_uid(), f"owner {st.st_uid}, want {agent_uid()}"
    assert (box.ws / "made").stat().st_uid == agent_uid()


def test_changes_both_ways(box):
    # Guest-side changes are visible on the host at once; host-side changes reach the
    # guest within virtiofs' cache timeout (cache=auto: about a second).
    (box.ws / "tomove.txt").write_text("m")
    box.ok("mv", "tomove.txt", "moved.txt")
    assert not (box.ws / "tomove.txt").exists() and (box.ws / "moved.txt").read_text() == "m"
    (box.ws / "moved.txt").unlink()
    assert wait_until(lambda: box.exec("test", "-e", "moved.txt").rc == 1, 5, 0.3)
    (box.ws / "grow.txt").write_text("a\n")
    assert wait_until(lambda: box.exec("cat", "grow.txt").out == "a\n", 5, 0.3)
    with open(box.ws / "grow.txt", "a") as fh:
        fh.write("b\n")
    assert wait_until(lambda: box.exec("cat", "grow.txt").out == "a\nb\n", 5, 0.3)
    box.ok("rm", "grow.txt")
    assert not (box.ws / "grow.txt").exists()


def test_symlink_to_host_only_file_is_not_followed_to_host(box):
    secret = "HOSTONLY-" + secrets.token_hex(16)
    d = Path(tempfile.mkdtemp(prefix="sbxho-", dir="/tmp"))
    try:
        os.chmod(d, 0o755)
        target = d / "hostonly.txt"
        target.write_text(secret + "\n")
        os.chmod(target, 0o644)
        (box.ws / "link-abs").symlink_to(target)
        (box.ws / "link-rel").symlink_to(os.path.relpath(target, box.ws))
        for link in ("link-abs", "link-rel"):
            r = box.exec("cat", link)
            assert secret not in r.out and secret not in r.err, r
            # The link text is passed through and resolved inside the guest.
            assert box.ok("readlink", link).out.strip() == os.readlink(box.ws / link)
        # A directory symlink does not open the host directory either.
        (box.ws / "link-dir").symlink_to(d)
        r = box.exec("sh", "-c", "cat link-dir/hostonly.txt; ls link-dir")
        assert secret not in r.out and "hostonly" not in r.out, r
    finally:
        for link in ("link-abs", "link-rel", "link-dir"):
            try:
                (box.ws / link).unlink()
            except FileNotFoundError:
                pass
        shutil.rmtree(d, ignore_errors=True)


def test_dotdot_does_not_escape_workspace(box):
    secret = "SIBLING-" + secrets.token_hex(16)
    sibling = box.ws.parent / "sibling-secret.txt"
    sibling.write_text(secret)
    try:
        r = box.exec("sh", "-c", "cat ../sibling-secret.txt; ls -a ..")
        assert secret not in r.out and "sibling-secret" not in r.out, r
    finally:
        sibling.unlink()


def test_guest_root_cannot_plant_setuid_root_or_devices(box):
    ws = str(box.ws)
    box.exec("sh", "-c", f"cp /bin/true {ws}/suid && chmod 4755 {ws}/suid", opts=["-u", "root"])
    p = box.ws / "suid"
    if p.exists():
        st = p.lstat()
        assert not (st.st_uid == 0 and st.st_mode & stat.S_ISUID), \
            f"setuid-root file planted in the workspace: uid={st.st_uid} mode={oct(st.st_mode)}"
    r = box.exec("mknod", f"{ws}/devnull", "c", "1", "3", opts=["-u", "root"])
    d = box.ws / "devnull"
    if d.exists() or d.is_symlink():
        assert not stat.S_ISCHR(d.lstat().st_mode), f"device node planted: {r!r}"
    for f in (p, d):
        try:
            f.unlink()
        except FileNotFoundError:
            pass


def test_guest_root_files_not_owned_by_host_root(box):
    box.ok("sh", "-c", f"echo x > {box.ws}/rootfile", opts=["-u", "root"])
    f = box.ws / "rootfile"
    try:
        # an unprivileged id: not host root, not the user who runs sbx, not the agent
        uid = f.stat().st_uid
        assert uid not in (0, os.getuid(), agent_uid()), f"guest root's file belongs to host uid {uid}"
    finally:
        f.unlink()


def test_guest_ids_beyond_the_jail_slot(box):
    """A guest id the sandbox's jail slot has no host id for (an ordinary user's slot
    holds 8191 guest ids) cannot own a workspace file: creating one fails in the guest.
    As root the slot holds 65535 and the file belongs to the slot's id for it."""
    d = box.ws / "open"
    d.mkdir(exist_ok=True)
    d.chmod(0o777)  # writable by any id: only the id map decides
    f = d / "far.txt"
    r = box.exec("setpriv", "--reuid", "60000", "--regid", "60000", "--clear-groups",
                 "sh", "-c", f"echo x > {f}", opts=["-u", "root"])
    try:
        if os.getuid() == 0:
            assert r.rc == 0, r
            assert f.stat().st_uid >= 1000000000, f.stat().st_uid
        else:
            assert r.rc != 0 and not f.exists(), r
    finally:
        if f.exists():
            f.unlink()
        d.rmdir()


def test_workspace_path_is_resolved(sbx):
    ws = sbx.workspace("realws")
    link = sbx.base / "linkws"
    link.symlink_to(ws)
    sbx.ok("create", "--name", "resolved", "shell", link, timeout=120)
    try:
        assert sbx.ls_json()["resolved"]["workspace"] == str(ws.resolve())
    finally:
        sbx.ok("rm", "resolved", timeout=120)


@pytest.fixture(scope="module")
def box2(sbx, box):
    ws = sbx.workspace("box2ws")
    sbx.ok("run", "-d", "--name", "itbox2", "shell", ws, timeout=300)
    yield ws
    sbx.sbx("rm", "-f", "itbox2", timeout=120)


def test_two_sandboxes_at_once(sbx, box, box2):
    (box.ws / "who.txt").write_text("one")
    (box2 / "who.txt").write_text("two")
    info = sbx.ls_json()
    assert info[box.name]["status"] == "running" and info["itbox2"]["status"] == "running", info
    assert box.ok("cat", f"{box.ws}/who.txt").out == "one"
    r = sbx.sbx("exec", "itbox2", "cat", f"{box2}/who.txt")
    assert r.rc == 0 and r.out == "two", r
    assert sbx.sbx("exec", "itbox2", "hostname").out.strip() == "itbox2"
    assert box.ok("hostname").out.strip() == box.name
    # Neither sees the other's workspace.
    assert box.exec("test", "-e", f"{box2}/who.txt").rc != 0
    assert sbx.sbx("exec", "itbox2", "test", "-e", f"{box.ws}/who.txt").rc != 0
    # Default cwd is each one's own workspace.
    assert sbx.sbx("exec", "itbox2", "pwd").out.strip() == str(box2.resolve())
