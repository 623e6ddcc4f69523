# SPDX-License-Identifier: MIT
# test_isolation.py: how the host processes of a running sandbox are confined (QEMU, virtiofsd).
import os
import re

from conftest import pid_alive


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
    if os.getuid() == 0:
        # As root QEMU drops to nobody after setup (that setuid needs elevateprivileges).
        assert argv[argv.index("-runas") + 1] == "nobody", argv
    else:
        assert "elevateprivileges=deny" in opts, opts
    # Seccomp mode 2 (filter) is on for the running process.
    assert _status(qpid)["Seccomp"].strip() == "2"


def test_qemu_is_not_root(box):
    qpid, _ = _procs(box)
    uids = [int(u) for u in _status(qpid)["Uid"].split()]
    gids = [int(g) for g in _status(qpid)["Gid"].split()]
    assert 0 not in uids and 0 not in gids, (uids, gids)
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
        assert os.readlink(f"/proc/{pid}/ns/user") != os.readlink("/proc/self/ns/user")
    argv = _argv(vpid)
    assert any(re.fullmatch(r"--fd=\d+", a) for a in argv), argv
    assert f"source={box.ws.resolve()}" in " ".join(argv), argv


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
    assert f"file={disk}" in argv, argv
    # The template base image is read-only on the host.
    base = [p for p in (box.home.home / "cache" / "templates" / "minimal").glob("base-*.raw")]
    assert base, "no base image"
    for b in base:
        assert os.stat(b).st_mode & 0o222 == 0, oct(os.stat(b).st_mode)
