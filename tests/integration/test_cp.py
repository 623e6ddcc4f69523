# SPDX-License-Identifier: MIT
# test_cp.py: sbx cp between the host and a running sandbox, and a hostile guest's archives.
import io
import os
import stat
import tarfile
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest

from conftest import TMP_BASE


@pytest.fixture
def tmp(box):
    """A host scratch directory (not in the workspace), removed after the test."""
    d = Path(tempfile.mkdtemp(prefix="sbxcp-", dir=TMP_BASE))
    yield d
    for root, dirs, files in os.walk(d, topdown=False):
        for n in dirs:
            p = os.path.join(root, n)
            if not os.path.islink(p):
                os.chmod(p, 0o700)
    import shutil
    shutil.rmtree(d, ignore_errors=True)


def cp(box, *args, **kw):
    return box.home.sbx("cp", *args, **kw)


def root(box, script):
    """Run a shell script as root in the sandbox; its stdout."""
    r = box.exec("sh", "-c", script, opts=("-u", "root"))
    assert r.rc == 0, r
    return r.out


def tree(d):
    """Every path under d (relative), symlinks not followed."""
    out = set()
    for rootdir, dirs, files in os.walk(d):
        for n in dirs + files:
            out.add(os.path.relpath(os.path.join(rootdir, n), d))
    return out


# --- host -> guest -------------------------------------------------------------

def test_file_into_sandbox_keeps_mode_owner_agent(box, tmp):
    f = tmp / "hello.txt"
    f.write_bytes(b"hello\x00world\n")
    os.chmod(f, 0o640)
    r = cp(box, f, f"{box.name}:/tmp/hello-in.txt")
    assert r.rc == 0, r
    out = root(box, "stat -c '%a %U' /tmp/hello-in.txt; od -An -c /tmp/hello-in.txt | tr -d ' \\n'")
    assert out.splitlines()[0] == "640 agent", out
    assert out.splitlines()[1] == r"hello\0world\n", out


def test_tree_into_sandbox_with_symlink_and_executable(box, tmp):
    src = tmp / "proj"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "data").write_text("data\n")
    (src / "run.sh").write_text("#!/bin/sh\necho ran\n")
    os.chmod(src / "run.sh", 0o755)
    os.symlink("/etc/passwd", src / "link")       # a link, never followed
    os.symlink("sub/data", src / "rel")
    (src / "sp ace-\u00fc").write_text("utf8\n")
    root(box, "rm -rf /tmp/proj-in")
    r = cp(box, "-r", src, f"{box.name}:/tmp/proj-in")
    assert r.rc == 0, r
    out = root(box, "cd /tmp/proj-in && stat -c '%n %a %U %F' run.sh sub sub/data && readlink link rel "
                    "&& ./run.sh && find . | sort")
    lines = out.splitlines()
    assert lines[0] == "run.sh 755 agent regular file", out
    assert lines[1].startswith("sub ") and "directory" in lines[1], out
    assert lines[2].startswith("sub/data 644 agent"), out
    assert lines[3:6] == ["/etc/passwd", "sub/data", "ran"], out
    assert sorted(lines[6:]) == sorted([".", "./link", "./rel", "./run.sh", "./sub", "./sub/data",
                                        "./sp ace-\u00fc"]), out


def test_into_existing_sandbox_directory(box, tmp):
    f = tmp / "into.txt"
    f.write_text("x\n")
    root(box, "rm -rf /tmp/existing && mkdir /tmp/existing")
    r = cp(box, f, f"{box.name}:/tmp/existing")
    assert r.rc == 0, r
    assert root(box, "cat /tmp/existing/into.txt") == "x\n"
    # a directory: copied under its own name, merged into one that is there
    d = tmp / "dd"
    d.mkdir()
    (d / "a").write_text("a\n")
    r = cp(box, "-r", d, f"{box.name}:/tmp/existing/")
    assert r.rc == 0, r
    assert root(box, "cat /tmp/existing/dd/a") == "a\n"


def test_into_sandbox_errors(box, tmp):
    r = cp(box, tmp / "missing", f"{box.name}:/tmp/x")
    assert r.rc == 1 and "No such file" in r.err, r
    d = tmp / "adir"
    d.mkdir()
    r = cp(box, d, f"{box.name}:/tmp/adir")
    assert r.rc == 1 and "use -r" in r.err, r
    f = tmp / "f"
    f.write_text("f")
    r = cp(box, f, f"{box.name}:/no/such/dir/f")
    assert r.rc == 1 and "no such directory" in r.err, r
    r = cp(box, f, f"{box.name}:relative")
    assert r.rc == 2 and "absolute" in r.err, r
    r = cp(box, f, "nosuchbox:/tmp/x")
    assert r.rc == 1 and "nosuchbox" in r.err, r
    r = cp(box, f, tmp / "g")
    assert r.rc == 2 and "NAME:PATH" in r.err, r


def test_symlink_source_copied_as_link(box, tmp):
    os.symlink("/nonexistent/target", tmp / "dangling")
    root(box, "rm -f /tmp/dangling-in")
    r = cp(box, tmp / "dangling", f"{box.name}:/tmp/dangling-in")
    assert r.rc == 0, r
    assert root(box, "readlink /tmp/dangling-in") == "/nonexistent/target\n"


# --- guest -> host -------------------------------------------------------------

def test_file_from_sandbox_keeps_mode(box, tmp):
    root(box, "printf 'out\\n' > /tmp/out.txt && chmod 751 /tmp/out.txt")
    r = cp(box, f"{box.name}:/tmp/out.txt", tmp / "copy.txt")
    assert r.rc == 0, r
    st = os.lstat(tmp / "copy.txt")
    assert stat.S_IMODE(st.st_mode) == 0o751, oct(st.st_mode)
    assert (tmp / "copy.txt").read_text() == "out\n"
    assert st.st_uid == os.getuid()


def test_setuid_bits_dropped(box, tmp):
    root(box, "printf 's' > /tmp/suid && chmod 4755 /tmp/suid")
    r = cp(box, f"{box.name}:/tmp/suid", tmp)
    assert r.rc == 0, r
    assert stat.S_IMODE(os.lstat(tmp / "suid").st_mode) == 0o755


def test_tree_from_sandbox_with_symlink_and_executable(box, tmp):
    root(box, "rm -rf /tmp/gtree && mkdir -p /tmp/gtree/sub && echo d > /tmp/gtree/sub/d && "
              "printf '#!/bin/sh\\n' > /tmp/gtree/x.sh && chmod 755 /tmp/gtree/x.sh && "
              "ln -s /etc/shadow /tmp/gtree/abs && ln -s sub/d /tmp/gtree/rel && chmod 750 /tmp/gtree/sub && "
              "echo u > '/tmp/gtree/sp ace-\u00fc' && ln /tmp/gtree/sub/d /tmp/gtree/hard")
    r = cp(box, "-r", f"{box.name}:/tmp/gtree", tmp / "got")
    assert r.rc == 0, r
    got = tmp / "got"
    assert tree(got) == {"sub", "sub/d", "x.sh", "abs", "rel", "sp ace-\u00fc", "hard"}
    assert (got / "hard").read_text() == "d\n"            # a hard link arrives as a file
    assert os.lstat(got / "hard").st_nlink == 1
    assert stat.S_IMODE(os.lstat(got / "x.sh").st_mode) == 0o755
    assert stat.S_IMODE(os.lstat(got / "sub").st_mode) == 0o750
    assert os.readlink(got / "abs") == "/etc/shadow"
    assert os.readlink(got / "rel") == "sub/d"
    assert (got / "sub" / "d").read_text() == "d\n"
    # into an existing directory: under the source's name
    r = cp(box, "-r", f"{box.name}:/tmp/gtree", tmp)
    assert r.rc == 0, r
    assert (tmp / "gtree" / "sub" / "d").read_text() == "d\n"
    # the top-level symlink itself, not what it points to
    r = cp(box, f"{box.name}:/tmp/gtree/abs", tmp / "abs-copy")
    assert r.rc == 0, r
    assert os.readlink(tmp / "abs-copy") == "/etc/shadow"


def test_from_sandbox_errors(box, tmp):
    r = cp(box, f"{box.name}:/no/such/file", tmp / "x")
    assert r.rc == 1 and "no such file" in r.err.lower(), r
    assert not (tmp / "x").exists()
    r = cp(box, f"{box.name}:/etc", tmp / "etc")
    assert r.rc == 1 and "use -r" in r.err, r
    assert not (tmp / "etc").exists()
    r = cp(box, f"{box.name}:/etc/hostname", tmp / "no" / "dir" / "x")
    assert r.rc == 1, r


def test_existing_symlink_in_destination_not_followed(box, tmp):
    outside = tmp / "outside"
    outside.mkdir()
    dest = tmp / "dest"
    dest.mkdir()
    os.symlink(outside, dest / "gtree2")
    root(box, "rm -rf /tmp/gtree2 && mkdir /tmp/gtree2 && echo p > /tmp/gtree2/pwned")
    r = cp(box, "-r", f"{box.name}:/tmp/gtree2", dest)
    assert r.rc == 1, r
    assert "not a directory" in r.err, r
    assert list(outside.iterdir()) == []
    # a file over an existing symlink to a file outside: refused, the target untouched
    victim = outside / "victim"
    victim.write_text("keep\n")
    os.symlink(victim, dest / "hostname")
    r = cp(box, f"{box.name}:/etc/hostname", dest)
    assert r.rc == 1 and "symlink" in r.err, r
    assert victim.read_text() == "keep\n"


# --- a hostile guest -------------------------------------------------------------

_blobs = [0]


@contextmanager
def fake_tar(box, archive: bytes):
    """Replace the guest's tar (as root: the guest is the attacker) with one that
    sends `archive`, whatever it is asked. A new file name each time: the guest may
    cache a workspace file's old content."""
    _blobs[0] += 1
    blob = box.ws / f"hostile{_blobs[0]}.tar"
    blob.write_bytes(archive)
    os.chmod(blob, 0o644)
    root(box, f"mv /usr/bin/tar /usr/bin/tar.real && printf '#!/bin/sh\\nexec cat {blob}\\n' > /usr/bin/tar "
              "&& chmod 755 /usr/bin/tar")
    try:
        yield
    finally:
        root(box, "mv -f /usr/bin/tar.real /usr/bin/tar")
        blob.unlink()


def tar_bytes(entries):
    """entries: (TarInfo, data or None)."""
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode="w", format=tarfile.GNU_FORMAT) as t:
        for ti, data in entries:
            t.addfile(ti, io.BytesIO(data) if data is not None else None)
    return bio.getvalue()


def ti(name, type=tarfile.REGTYPE, size=0, linkname="", mode=0o644):
    t = tarfile.TarInfo(name)
    t.type, t.size, t.linkname, t.mode = type, size, linkname, mode
    return t


def hostile_cases(outside):
    """name: (entries, what the refusal says)."""
    top = "hostname"
    return {
        "dotdot": ([(ti(f"{top}/../../escape", size=3), b"bad")], "'..' in the name"),
        "dotdot-bare": ([(ti("../escape", size=3), b"bad")], "'..' in the name"),
        "absolute": ([(ti(f"{outside}/abs-escape", size=3), b"bad")], "absolute name"),
        "other-top": ([(ti("elsewhere", size=3), b"bad")], "not under 'hostname'"),
        "symlink-then-through": ([
            (ti(top, tarfile.DIRTYPE, mode=0o755), None),
            (ti(f"{top}/link", tarfile.SYMTYPE, linkname=str(outside)), None),
            (ti(f"{top}/link/pwned", size=3), b"bad"),
        ], "refusing to write through it"),
        "symlink-then-file": ([
            (ti(top, tarfile.DIRTYPE, mode=0o755), None),
            (ti(f"{top}/l2", tarfile.SYMTYPE, linkname=str(outside / "victim")), None),
            (ti(f"{top}/l2", size=3), b"bad"),
        ], "exists as a symlink"),
        "hardlink": ([
            (ti(top, tarfile.DIRTYPE, mode=0o755), None),
            (ti(f"{top}/hl", tarfile.LNKTYPE, linkname=str(outside / "victim")), None),
        ], "hard link"),
        "device": ([(ti(top, tarfile.DIRTYPE, mode=0o755), None), (ti(f"{top}/null", tarfile.CHRTYPE), None)],
                   "device, fifo or socket"),
        "fifo": ([(ti(top, tarfile.DIRTYPE, mode=0o755), None), (ti(f"{top}/fifo", tarfile.FIFOTYPE), None)],
                 "device, fifo or socket"),
    }


@pytest.mark.parametrize("case", ["dotdot", "dotdot-bare", "absolute", "other-top", "symlink-then-through",
                                  "symlink-then-file", "hardlink", "device", "fifo"])
def test_hostile_archive_refused(box, tmp, case):
    outside = tmp / "outside"
    outside.mkdir()
    (outside / "victim").write_text("keep\n")
    dest = tmp / "dest"
    dest.mkdir()
    entries, says = hostile_cases(outside)[case]
    with fake_tar(box, tar_bytes(entries)):
        r = cp(box, "-r", f"{box.name}:/etc/hostname", dest)
    assert r.rc != 0, r
    assert "refused what" in r.err and says in r.err, r
    assert sorted(os.listdir(outside)) == ["victim"], case
    assert (outside / "victim").read_text() == "keep\n"
    assert sorted(os.listdir(tmp)) == ["dest", "outside"], case
    for p in tree(dest):
        full = dest / p
        assert not full.is_symlink() or p.endswith(("link", "l2")), p
        assert full.is_symlink() or full.is_dir() or full.is_file(), p
    assert not any(n == "pwned" or "escape" in n for n in tree(dest)), tree(dest)


def test_hostile_huge_entry_refused(box, tmp):
    t = ti("hostname", size=1 << 40)                   # claims 1 TiB; sends 1 KiB
    hdr = t.tobuf(format=tarfile.GNU_FORMAT)
    dest = tmp / "dest"
    dest.mkdir()
    with fake_tar(box, hdr + b"A" * 1024):
        r = cp(box, f"{box.name}:/etc/hostname", dest)
    assert r.rc != 0, r
    assert "refused what" in r.err and "1099511627776 bytes" in r.err, r
    assert os.listdir(dest) == [], os.listdir(dest)


def test_hostile_garbage_refused(box, tmp):
    dest = tmp / "dest"
    dest.mkdir()
    with fake_tar(box, b"\x1b[31mnot a tar archive at all\n" * 40):
        r = cp(box, f"{box.name}:/etc/hostname", dest)
    assert r.rc != 0, r
    assert "refused what" in r.err, r
    assert "\x1b" not in r.err, r
    assert os.listdir(dest) == []


def test_overwrite_from_sandbox(box, tmp):
    root(box, "printf one > /tmp/ow && chmod 600 /tmp/ow")
    assert cp(box, f"{box.name}:/tmp/ow", tmp / "ow").rc == 0
    root(box, "printf two > /tmp/ow && chmod 644 /tmp/ow")
    r = cp(box, f"{box.name}:/tmp/ow", tmp / "ow")
    assert r.rc == 0, r
    assert (tmp / "ow").read_text() == "two"
    assert stat.S_IMODE(os.lstat(tmp / "ow").st_mode) == 0o644
    assert sorted(os.listdir(tmp)) == ["ow"]    # no temporary left behind


def test_cp_starts_a_stopped_sandbox(fresh, tmp):
    ws = fresh.workspace()
    fresh.ok("create", "--name", "cpstart", "shell", ws, timeout=120)
    assert fresh.status("cpstart") != "running"
    f = tmp / "s.txt"
    f.write_text("started\n")
    r = fresh.sbx("cp", f, "cpstart:/tmp/s.txt")
    assert r.rc == 0, f"{r!r}\n{fresh.diag()}"
    assert fresh.status("cpstart") == "running"
    r = fresh.sbx("cp", "cpstart:/tmp/s.txt", tmp / "back.txt")
    assert r.rc == 0, r
    assert (tmp / "back.txt").read_text() == "started\n"


def test_long_names_both_ways(box, tmp):
    # past ustar's 100/155-byte fields: GNU long-name records, both directions
    rel = "/".join(["d" * 120, "e" * 120, "f" * 200])
    root(box, f"rm -rf /tmp/longn && mkdir -p /tmp/longn/{os.path.dirname(rel)} && echo long > /tmp/longn/{rel}")
    r = cp(box, "-r", f"{box.name}:/tmp/longn", tmp / "longn")
    assert r.rc == 0, r
    assert (tmp / "longn" / rel).read_text() == "long\n"
    r = cp(box, "-r", tmp / "longn", f"{box.name}:/tmp/longn-back")
    assert r.rc == 0, r
    assert root(box, f"cat /tmp/longn-back/{rel}") == "long\n"
