# SPDX-License-Identifier: MIT
# test_isolation.py: how the host processes of a running sandbox are confined (QEMU, virtiofsd).
import os
import re
import signal
import subprocess
import time

import pytest

from conftest import pid_alive, wait_until


def _status(pid):
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


def _argv(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return [a.decode() for a in f.read().split(b"\0") if a]


def _procs(box):
    vj = box.home.vm_json(box.name)
    assert vj, box.home.diag()
    assert pid_alive(vj["qemu_pid"], vj["qemu_start"])
    assert pid_alive(vj["vfsd_pid"], vj["vfsd_start"])
    return vj["qemu_pid"], vj["vfsd_pid"]


def test_qemu_has_no_network(box):
    qpid, _ = _procs(box)
    argv = _argv(qpid)
    assert not {"-netdev", "-nic", "-net"} & set(argv), argv
    assert not any("virtio-net" in a or "user," in a for a in argv), argv
    assert "-nodefaults" in argv and "-no-user-config" in argv, argv
    # An empty network namespace of its own: nothing but loopback.
    assert os.readlink(f"/proc/{qpid}/ns/net") != os.readlink("/proc/self/ns/net")
    with open(f"/proc/{qpid}/net/dev") as f:
        ifaces = [line.split(":")[0].strip() for line in f.readlines()[2:]]
    assert ifaces == ["lo"], ifaces


def test_qemu_seccomp_filter(box):
    qpid, _ = _procs(box)
    argv = _argv(qpid)
    opts = argv[argv.index("-sandbox") + 1].split(",")
    assert opts[0] == "on"
    for o in ("obsolete=deny", "spawn=deny", "resourcecontrol=deny"):
        assert o in opts, opts
    # QEMU starts as its sandbox's own ids (sbx switched before exec), so nothing in
    # it may change ids: elevateprivileges=deny always, and no -runas
    assert "elevateprivileges=deny" in opts, opts
    assert "-runas" not in argv, argv
    # its disks and console come as fds sbx opened (fd sets); it never opens them by path
    fdsets = [argv[i + 1] for i, a in enumerate(argv) if a == "-add-fd"]
    assert len(fdsets) == 3, argv
    assert "/dev/fdset/" in " ".join(argv) and "disk.qcow2" not in " ".join(argv), argv
    # Seccomp mode 2 (filter) is on for the running process.
    assert _status(qpid)["Seccomp"].strip() == "2"


def test_qemu_is_not_root(box):
    qpid, _ = _procs(box)
    uids = [int(u) for u in _status(qpid)["Uid"].split()]
    gids = [int(g) for g in _status(qpid)["Gid"].split()]
    assert 0 not in uids and 0 not in gids, (uids, gids)
    # nor nobody, nor the user who runs sbx: an id of the sandbox's own
    assert 65534 not in uids and os.getuid() not in uids, uids
    assert len(set(uids)) == 1 and len(set(gids)) == 1, (uids, gids)
    assert _status(qpid)["Groups"].strip() in ("", str(gids[0])), _status(qpid)["Groups"]
    caps = int(_status(qpid)["CapEff"], 16)
    assert caps == 0, hex(caps)


def test_virtiofsd_is_not_real_root(box):
    _, vpid = _procs(box)
    # Every virtiofsd process of the sandbox (it forks into its own namespaces).
    pids = [vpid] + [int(p) for p in os.listdir("/proc") if p.isdigit()
                     and _ppid(int(p)) == vpid]
    for pid in pids:
        st = _status(pid)
        uids = [int(u) for u in st["Uid"].split()]
        assert 0 not in uids, f"virtiofsd {pid} runs with host uid 0: {st['Uid']}"
        # nor as the user who runs sbx (its rights reach far beyond the workspace):
        # an unprivileged id of its own, without the host's supplementary groups
        assert os.getuid() not in uids, f"virtiofsd {pid} runs as the sbx user: {st['Uid']}"
        assert st["Groups"].strip() == "", f"virtiofsd {pid} keeps groups {st['Groups']}"
        assert os.readlink(f"/proc/{pid}/ns/user") != os.readlink("/proc/self/ns/user")
    argv = _argv(vpid)
    assert any(re.fullmatch(r"--fd=\d+", a) for a in argv), argv
    if os.getuid() != 0:
        assert f"source={box.ws.resolve()}" in " ".join(argv), argv
        return
    # as root the source is a stage on which sbx mounted the workspace's tree (so that
    # virtiofsd need not search its parents): what virtiofsd serves, its root, is the
    # workspace and nothing else
    src = re.search(r"source=(\S+)", " ".join(argv)).group(1)
    assert src != str(box.ws.resolve()) and not src.startswith(str(box.ws.resolve())), argv
    marker = box.ws / "isolation-marker"
    marker.write_text("m")
    try:
        served = [p for p in pids[1:] if os.path.isfile(f"/proc/{p}/root/isolation-marker")]
        assert served, f"no virtiofsd of {pids} serves {box.ws}"
        assert sorted(os.listdir(f"/proc/{served[0]}/root")) == sorted(os.listdir(box.ws))
    finally:
        marker.unlink()


def _vfsd_pids(vpid):
    return [vpid] + [int(p) for p in os.listdir("/proc") if p.isdigit() and _ppid(int(p)) == vpid]


def _core_limit(pid):
    with open(f"/proc/{pid}/limits") as f:
        line = next(l for l in f if l.startswith("Max core file size"))
    return line.split()[4:6]


JAIL_BASE = 1000000000  # idmap.h IDMAP_JAIL_BASE: the ids sbx reserves as root


def test_vmm_processes_are_locked_down(box):
    """Before either VMM reads guest input: no core dumps, no_new_privs, no ambient or
    inheritable capabilities; QEMU's bounding, permitted and effective sets are empty
    (it starts as the sandbox's own ids: sbx switched to them before exec)."""
    qpid, vpid = _procs(box)
    for pid in [qpid] + _vfsd_pids(vpid):
        st = _status(pid)
        assert st["NoNewPrivs"].strip() == "1", (pid, _argv(pid)[0])
        assert _core_limit(pid) == ["0", "0"], (pid, _argv(pid)[0])
        assert int(st["CapAmb"], 16) == 0 and int(st["CapInh"], 16) == 0, (pid, st["CapAmb"], st["CapInh"])
    with open(f"/proc/{qpid}/limits") as f:
        nofile = next(l for l in f if l.startswith("Max open files")).split()[3:5]
    assert nofile == ["1024", "1024"], nofile
    with open(f"/proc/{qpid}/limits") as f:
        nproc = next(l for l in f if l.startswith("Max processes")).split()[2:4]
    assert nproc == ["1024", "1024"], nproc
    st = _status(qpid)
    bnd = int(st["CapBnd"], 16)
    assert bnd == 0, hex(bnd)
    # virtiofsd's process that serves files runs under its own built-in filter
    assert _status(_vfsd_pids(vpid)[-1])["Seccomp"].strip() == "2"
    assert int(st["CapPrm"], 16) == 0 and int(st["CapEff"], 16) == 0, (st["CapPrm"], st["CapEff"])


def test_sbxd_is_not_dumpable(box):
    """sbxd holds the secrets and the CA key: no core file, and (for the ordinary user
    sbx runs as) no /proc/PID/environ, mem or ptrace for the user's other processes,
    such as a VMM that broke out of its sandbox."""
    box.ok("true")
    pid = box.home.daemon_pid()
    assert pid and pid_alive(pid), box.home.diag()
    assert _core_limit(pid) == ["0", "0"]
    if os.getuid() != 0:
        # an undumpable process's /proc files belong to root, and reading them is a ptrace check
        assert os.stat(f"/proc/{pid}/environ").st_uid == 0
        with pytest.raises(PermissionError):
            open(f"/proc/{pid}/environ", "rb").read()
        with pytest.raises(PermissionError):
            open(f"/proc/{pid}/mem", "rb")
    # (as root the dumpable flag is not observable from outside: root passes every
    # ptrace check, and the user pass of make test checks it)


@pytest.fixture(scope="module")
def box2(box):
    home = box.home
    ws = home.workspace("jail2ws")
    home.ok("run", "-d", "--name", "itjail2", "shell", ws, timeout=300)
    yield home
    home.sbx("rm", "-f", "itjail2", timeout=120)


def _ids(pids):
    uids, gids = set(), set()
    for pid in pids:
        st = _status(pid)
        uids |= {int(u) for u in st["Uid"].split()}
        gids |= {int(g) for g in st["Gid"].split()}
    return uids, gids


# What a process with the other sandbox's QEMU ids tries against this one's QEMU.
_PROBE = r"""
import ctypes, errno, os, sys
pid, disk = int(sys.argv[1]), sys.argv[2]
libc = ctypes.CDLL(None, use_errno=True)
out = []
try:
    os.kill(pid, 0); out.append("signal")
except PermissionError:
    pass
if libc.ptrace(16, pid, 0, 0) == 0:  # PTRACE_ATTACH
    out.append("ptrace")
for path in (f"/proc/{pid}/mem", f"/proc/{pid}/environ", f"/proc/{pid}/root/", disk):
    try:
        open(path, "rb").close() if not path.endswith("/") else os.listdir(path)
        out.append(path)
    except (PermissionError, IsADirectoryError):
        pass
print("reached:" + ",".join(out))
"""


def test_each_sandbox_has_ids_of_its_own(box, box2):
    """Two running sandboxes: their QEMU and virtiofsd processes have host ids of
    their own, shared with nothing (not 0, not nobody, not the user), and a process
    with sandbox A's QEMU ids can neither signal nor ptrace sandbox B's QEMU, nor
    read its memory, environment, root or disk."""
    qa, va = _procs(box)
    vj = box2.vm_json("itjail2")
    assert vj and pid_alive(vj["qemu_pid"], vj["qemu_start"]), box2.diag()
    qb, vb = vj["qemu_pid"], vj["vfsd_pid"]
    ua, ga = _ids([qa] + _vfsd_pids(va))
    ub, gb = _ids([qb] + _vfsd_pids(vb))
    assert not ua & ub and not ga & gb, (ua, ub, ga, gb)
    for ids in (ua, ub, ga, gb):
        assert not ids & {0, 65534, os.getuid(), os.getgid()}, ids
    # QEMU's id is none of its virtiofsd's (those are the guest's file owners)
    assert not _ids([qa])[0] & _ids(_vfsd_pids(va))[0]
    (qa_uid,), (qa_gid,) = _ids([qa])
    disk = str(box2.sandbox_dir("itjail2") / "disk.qcow2")
    probe = ["/usr/bin/python3", "-c", _PROBE, str(qb), disk]
    if os.getuid() == 0:
        def become_a():
            os.setgroups([])
            os.setresgid(qa_gid, qa_gid, qa_gid)
            os.setresuid(qa_uid, qa_uid, qa_uid)
        r = subprocess.run(probe, capture_output=True, text=True, timeout=60, preexec_fn=become_a)
    else:
        # an ordinary user reaches A's ids through newuidmap, as sbx does
        r = subprocess.run(["unshare", f"--map-users={qa_uid},1,1", f"--map-groups={qa_gid},1,1",
                            "--setuid", "1", "--setgid", "1"] + probe, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r
    assert r.stdout.strip() == "reached:", r.stdout


def _top(path):
    return str(path).lstrip("/").split("/")[0]


def test_qemu_has_a_root_and_namespaces_of_its_own(box, box2):
    """Each QEMU runs in new mount, pid, IPC, UTS and cgroup namespaces (differing from
    sbxd's and from each other), as pid 1 of its pid namespace, pivot_root'ed into a
    tmpfs that holds /usr, four /dev nodes and exactly the files it opens by path (its
    kernel and initramfs) at their host paths: no /proc, no /home, no sbxd socket, not
    even its own disk (an fd), no other sandbox's disk."""
    qa, _ = _procs(box)
    vj = box2.vm_json("itjail2")
    qb = vj["qemu_pid"]
    # sbxd runs in the namespaces it was started in, ours (and is undumpable: an
    # ordinary user may not read its /proc/PID/ns)
    for ns in ("mnt", "pid", "ipc", "uts", "cgroup"):
        a, b, d = (os.readlink(f"/proc/{p}/ns/{ns}") for p in (qa, qb, "self"))
        assert a != d and b != d and a != b, (ns, a, b, d)
    assert _status(qa)["NSpid"].split()[-1] == "1", _status(qa)["NSpid"]
    # virtiofsd (the process serving files: the last of its tree) too
    _, va = _procs(box)
    vpids = _vfsd_pids(va)
    for ns in ("mnt", "pid", "ipc", "uts", "net", "cgroup"):
        d = os.readlink(f"/proc/self/ns/{ns}")
        assert os.readlink(f"/proc/{vpids[-1]}/ns/{ns}") != d, ns
    root = f"/proc/{qa}/root"
    argv = _argv(qa)
    files = [argv[argv.index("-kernel") + 1], argv[argv.index("-initrd") + 1]]
    allowed = {"usr", "dev", "bin", "sbin", "lib", "lib32", "lib64", "libx32"} | {_top(f) for f in files}
    entries = set(os.listdir(root))
    assert entries <= allowed and "usr" in entries and "dev" in entries, entries
    devs = set(os.listdir(f"{root}/dev"))
    assert devs <= {"null", "zero", "random", "urandom", "kvm"} and {"null", "urandom"} <= devs, devs
    for f in files:
        assert os.path.isfile(root + f), f
    # what it must not see
    other = box2.sandbox_dir("itjail2") / "disk.qcow2"
    own = box.home.sandbox_dir(box.name)
    for path in ("/proc/self", "/etc/passwd", str(other), str(own / "disk.qcow2"), str(own / "console.log"),
                 str(box.home.run_dir / "sbxd.sock"), os.path.expanduser("~")):
        assert not os.path.exists(root + path) or path == "/" , path
    # read-only: /usr, the kernel, the initramfs
    st = os.statvfs(root + "/usr")
    assert st.f_flag & os.ST_RDONLY, "usr writable"
    assert os.statvfs(root + files[0]).f_flag & os.ST_RDONLY
    assert os.statvfs(root + files[1]).f_flag & os.ST_RDONLY


def _cg_dirs(pid):
    """The cgroup directories of pid: {hierarchy: path} (v2: {"": path})."""
    out = {}
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            if ctrls == "" and os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
                out[""] = "/sys/fs/cgroup" + path
            for c in ("memory", "cpu", "pids"):
                if c in ctrls.split(","):
                    out[c] = f"/sys/fs/cgroup/{c}{path}"
    return out


def _read(path):
    with open(path) as f:
        return f.read().strip()


def test_each_sandbox_has_a_cgroup_with_limits(box):
    """QEMU and virtiofsd of a running sandbox share a cgroup of its own whose limits
    follow its size (memory: RAM + a quarter + 512 MiB; CPU: --cpus cores; pids), shown
    by sbx ls; where this host gives sbx no cgroup (an ordinary user on cgroup v1, or
    v2 not delegated) the sandbox runs without and sbxd says why."""
    qpid, vpid = _procs(box)
    info = box.home.ls_json()[box.name]
    v2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers")
    if not v2 and os.getuid() != 0:
        assert info["cgroup"] is None, info
        log = (box.home.state_dir / "sbxd.log").read_text()
        assert "sandboxes run without a cgroup" in log and "needs root" in log, log[-2000:]
        assert box.home.ok("ls").out.split("\n")[1].split()[3:5] == ["-", "-"]
        return
    if v2 and info["cgroup"] is None:
        log = (box.home.state_dir / "sbxd.log").read_text()
        assert "sandboxes run without a cgroup" in log and "delegated" in log, log[-2000:]
        return
    cg = info["cgroup"]
    mem, cpus = info["memory_mib"], info["cpus"]
    # + 256 MiB under TCG: QEMU's translated-code cache (capped at 128 MiB) and its tables
    tcg = 256 if "tcg" in " ".join(_argv(qpid)) else 0
    want = (mem + mem // 4 + 512 + tcg) << 20
    assert cg["memory_max"] == want and 0 < cg["memory_bytes"] <= want, cg
    dirs = _cg_dirs(qpid)
    for pid in [qpid] + _vfsd_pids(vpid):
        assert _cg_dirs(pid) == dirs, (pid, _cg_dirs(pid), dirs)
    assert all(os.path.basename(d).startswith(f"sbx-{box.name}-") for d in dirs.values()), dirs
    if v2:
        d = dirs[""]
        assert int(_read(f"{d}/memory.max")) == want
        assert _read(f"{d}/cpu.max") == f"{cpus * 100000} 100000"
        assert _read(f"{d}/pids.max") == "1024"
    else:
        assert int(_read(f"{dirs['memory']}/memory.limit_in_bytes")) == want
        assert int(_read(f"{dirs['cpu']}/cpu.cfs_quota_us")) == cpus * 100000
        assert int(_read(f"{dirs['cpu']}/cpu.cfs_period_us")) == 100000
        assert _read(f"{dirs['pids']}/pids.max") == "1024"
    row = [ln.split() for ln in box.home.ok("ls").out.splitlines() if ln.split()[:1] == [box.name]][0]
    assert row[3].endswith("s") and row[4].endswith(f"/{want >> 20}M"), row
    # a guest that allocates past its RAM: the guest's own OOM killer, the VMM lives
    r = box.exec("python3", "-c", "b = []\nwhile True: b.append(b'\\x01' * (64 << 20))", timeout=300)
    assert r.rc != 0, r
    assert pid_alive(qpid) and box.ok("true").rc == 0
    assert box.home.ls_json()[box.name]["cgroup"]["oom_kills"] == 0


def test_cgroup_goes_with_the_vm(box):
    home = box.home
    name = "itcg"
    home.ok("run", "-d", "--name", name, "--cpus", "1", "-m", "512M", "shell", home.workspace("cgws"), timeout=300)
    try:
        vj = home.vm_json(name)
        dirs = _cg_dirs(vj["qemu_pid"])
        cg = home.ls_json()[name]["cgroup"]
        if cg is None:
            return  # no cgroup here: test_each_sandbox_has_a_cgroup_with_limits says why
        tcg = 256 if "tcg" in " ".join(_argv(vj["qemu_pid"])) else 0
        assert cg["memory_max"] == (512 + 128 + 512 + tcg) << 20, cg
        # --cpus 1: a guest kept busy (two spinning processes) stays at one host core
        busy = home.popen("exec", name, "sh", "-c", "timeout 8 sh -c 'while :; do :; done' & "
                          "timeout 8 sh -c 'while :; do :; done'; wait",
                          stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        try:
            time.sleep(2)
            c0, t0 = home.ls_json()[name]["cgroup"]["cpu_usec"], time.monotonic()
            time.sleep(4)
            c1, t1 = home.ls_json()[name]["cgroup"]["cpu_usec"], time.monotonic()
        finally:
            busy.wait(timeout=60)
        cores = (c1 - c0) / 1e6 / (t1 - t0)
        print(f"--cpus 1 busy guest: {cores:.2f} host cores")
        assert 0.5 < cores <= 1.15, cores
        home.ok("stop", name, timeout=120)
        for d in dirs.values():
            assert not os.path.exists(d), d
    finally:
        home.sbx("rm", "-f", name, timeout=120)


def test_cgroup_of_a_vm_that_died_unwatched_is_removed(fresh):
    """A VM whose QEMU and virtiofsd ended while no sbxd ran leaves an empty cgroup
    behind; the next sbxd removes it (and never one whose sbxd still lives)."""
    h = fresh
    name = "itcgdead"
    h.ok("run", "-d", "--name", name, "shell", h.workspace("cgdeadws"), timeout=300)
    vj = h.vm_json(name)
    if h.ls_json()[name]["cgroup"] is None:
        # no cgroup here (an ordinary user on cgroup v1): test_each_sandbox_has_a_cgroup_with_limits says why
        assert os.getuid() != 0
        return
    dirs = [d for d in _cg_dirs(vj["qemu_pid"]).values() if os.path.basename(d).startswith("sbx-")]
    assert dirs, _cg_dirs(vj["qemu_pid"])
    dpid = h.daemon_pid()
    os.kill(dpid, signal.SIGKILL)
    assert wait_until(lambda: not pid_alive(dpid), 10)
    pids = {int(p) for d in dirs for p in _read(f"{d}/cgroup.procs").split()}
    assert vj["qemu_pid"] in pids and vj["vfsd_pid"] in pids, pids
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    # gone and reaped (a zombie still holds its cgroup)
    assert wait_until(lambda: not any(os.path.exists(f"/proc/{p}") for p in pids), 30), \
        [open(f"/proc/{p}/stat").read() for p in pids if os.path.exists(f"/proc/{p}")]
    # empty now, and still there: nothing watched the VM go
    assert all(not _read(f"{d}/cgroup.procs") for d in dirs), dirs
    assert all(os.path.isdir(d) for d in dirs), dirs
    h.ok("ls", timeout=60)  # starts sbxd
    assert h.status(name) == "stopped"
    for d in dirs:
        assert not os.path.exists(d), d
    assert "removed" in (h.state_dir / "sbxd.log").read_text()
    # and it runs again with a new one
    h.ok("exec", name, "true", timeout=300)
    assert h.ls_json()[name]["cgroup"] is not None
    h.ok("rm", "-f", name, timeout=120)


def test_disk_header_cannot_choose_the_backing_file(box, tmp_path_factory):
    """A VMM that broke out (or anything else that can write the sandbox's disk) could
    rewrite the qcow2 header's backing file name; on the next start QEMU would open that
    file and the guest would read it as its disk. sbx opens the backing file it recorded
    and hands QEMU the fd."""
    home = box.home
    name = "itbacking"
    secret_dir = tmp_path_factory.mktemp("secret")
    secret = secret_dir / "secret.raw"
    secret.write_bytes(b"TOPSECRET-HOST-FILE\n" * 65536)
    home.ok("run", "-d", "--name", name, "shell", home.workspace("backingws"), timeout=300)
    try:
        home.ok("stop", name, timeout=120)
        disk = home.sandbox_dir(name) / "disk.qcow2"
        subprocess.run(["qemu-img", "rebase", "-u", "-f", "qcow2", "-b", str(secret), "-F", "raw", str(disk)],
                       check=True, capture_output=True)
        r = home.sbx("exec", name, "true", timeout=300)
        assert r.rc == 0, r
        vj = home.vm_json(name)
        if os.getuid() == 0:
            fds = os.listdir(f"/proc/{vj['qemu_pid']}/fd")
            opened = {os.readlink(f"/proc/{vj['qemu_pid']}/fd/{fd}") for fd in fds}
            assert str(secret) not in opened, opened
        r = home.sbx("exec", "-u", "root", name, "sh", "-c", "head -c 2M /dev/vda | grep -c TOPSECRET || true", timeout=120)
        assert r.out.strip() in ("", "0"), r
        log = (home.state_dir / "sbxd.log").read_text()
        assert "backing file" in log and str(secret) in log, log[-2000:]
    finally:
        home.sbx("rm", "-f", name, timeout=120)


def _ppid(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return None
    return int(data[data.rfind(")") + 2:].split()[1])


def test_guest_has_own_root_disk_overlay(box):
    qpid, _ = _procs(box)
    argv = " ".join(_argv(qpid))
    disk = box.home.sandbox_dir(box.name) / "disk.qcow2"

    # QEMU opened neither by path: sbx handed it fds (-add-fd, /dev/fdset/N)
    assert "node-name=diskfile,filename=/dev/fdset/1," in argv, argv
    assert "node-name=basefile,filename=/dev/fdset/2,read-only=on" in argv, argv
    # the backing file is the one sbx names, read-only, and is the template's image
    assert "driver=qcow2,node-name=root,file=diskfile,backing=base" in argv, argv
    if os.getuid() != 0:
        # QEMU runs under an id of its own, not the user's: its fd table is not ours to read
        with pytest.raises(PermissionError):
            os.listdir(f"/proc/{qpid}/fd")
    else:
        fds = {}
        for fd in os.listdir(f"/proc/{qpid}/fd"):
            with open(f"/proc/{qpid}/fdinfo/{fd}") as f:
                flags = int(next(l for l in f if l.startswith("flags:")).split()[1], 8)
            fds.setdefault(os.readlink(f"/proc/{qpid}/fd/{fd}"), set()).add(flags & 3)
        assert fds.get(str(disk)) == {os.O_RDWR}, fds
        bases = [p for p in fds if "/templates/minimal/base-" in p]
        assert len(bases) == 1 and fds[bases[0]] == {os.O_RDONLY}, fds
    # The template base image is read-only on the host.
    base = [p for p in (box.home.home / "cache" / "templates" / "minimal").glob("base-*.raw")]
    assert base, "no base image"
    for b in base:
        assert os.stat(b).st_mode & 0o222 == 0, oct(os.stat(b).st_mode)


def test_guest_returns_freed_memory(box):
    """Free page reporting: the guest's balloon driver is bound to the device sbx gives
    it, and memory a guest process touched and freed leaves QEMU's resident set (the
    amount is a bench/start number, this only checks the mechanism works at all)."""
    r = box.ok("sh", "-c", "ls /sys/bus/virtio/drivers/virtio_balloon/ | grep -c '^virtio'")
    assert r.out.strip() == "1", r
    qpid, _ = _procs(box)

    def memfd_rss_mib():
        rss, cur = 0, False
        with open(f"/proc/{qpid}/smaps") as f:
            for line in f:
                if line[:1] in "0123456789abcdef" and "-" in line.split()[0]:
                    cur = "memory-backend-memfd" in line
                elif cur and line.startswith("Rss:"):
                    rss += int(line.split()[1])
        return rss // 1024

    hold = box.home.popen("exec", box.name, "python3", "-c",
                          "import time; b = bytearray(300 << 20); b[::4096] = b'x' * (len(b) // 4096); "
                          "print('held', flush=True); time.sleep(2)",
                          stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    assert hold.stdout.readline().strip() == b"held"
    peak = memfd_rss_mib()
    assert hold.wait(timeout=60) == 0
    for _ in range(60):
        if memfd_rss_mib() < peak - 150:
            break
        time.sleep(0.5)
    assert memfd_rss_mib() < peak - 150, (peak, memfd_rss_mib())


def test_qemu_lets_go_of_the_kernel_it_booted(box):
    """QEMU keeps its -kernel and -initrd files mapped for the VM's life (to load them
    again on a reset, which sbx never does): it gets per-VM copies, and once the guest is
    up their blocks are punched out, so the kernel image (48 MiB) leaves QEMU's resident
    set (src/host/vm/vm_bootfiles.h)."""
    box.ok("true")
    qpid, _ = _procs(box)
    argv = _argv(qpid)
    vm_dir = box.home.vm_dir(box.name)
    for opt, name in (("-kernel", "boot-vmlinux"), ("-initrd", "boot-initrd")):
        assert argv[argv.index(opt) + 1] == str(vm_dir / name), argv
        st = os.stat(vm_dir / name)
        assert st.st_size > 1 << 20 and st.st_blocks * 512 <= 64 << 10, (name, st)  # a partial tail block
    if os.geteuid() == 0:  # a user's QEMU runs under ids whose smaps are not ours to read
        rss, cur = 0, False
        with open(f"/proc/{qpid}/smaps") as f:
            for line in f:
                if line[:1] in "0123456789abcdef" and "-" in line.split()[0]:
                    cur = str(vm_dir) in line or "/kernel/" in line
                elif cur and line.startswith("Rss:"):
                    rss += int(line.split()[1])
        assert rss < 1024, rss
    # the guest booted from them all the same
    assert box.ok("cat", "/proc/cmdline").out.startswith("console=")


def test_tcg_guest_loads_processes_at_fixed_addresses(box):
    """Under TCG the guest boots with norandmaps (QEMU keys translated code by virtual
    address: randomized processes were translated again at every start); under KVM it
    keeps ASLR."""
    qpid, _ = _procs(box)
    tcg = "tcg" in " ".join(_argv(qpid))
    r = box.ok("sh", "-c", "cat /proc/sys/kernel/randomize_va_space; "
               "for i in 1 2; do grep -m1 'libc.so' /proc/self/maps | cut -d- -f1; done")
    knob, a, b = r.out.split()
    assert knob == ("0" if tcg else "2"), r
    assert (a == b) == tcg, r
