# SPDX-License-Identifier: MIT
# test_workspace_coherence.py: "same files, both ways": how soon a change on one side is seen on the other.
"""Bounds (docs/workspace-io.md): a guest change is on the host when the guest's command
has returned (writes go through, nothing is cached in the guest); a host change is seen
by the guest within HOST_TO_GUEST_S, virtiofs' 1 s entry and attribute timeouts
(cache=auto) plus a guest poll of 20 ms and the channel, under TCG. The guest watcher
first looks at the old state, so that its caches hold it: the worst case."""
import os
import secrets
import stat
import time

from conftest import chown_to_agent, host_change_seen

HOST_TO_GUEST_S = 1.5


def subdir(box, label):
    d = box.ws / f"{label}-{secrets.token_hex(4)}"
    d.mkdir()
    chown_to_agent(d)
    return d


def test_host_write_rename_delete_seen_in_guest_within_bound(box):
    d = subdir(box, "h2g")
    f = d / "f.txt"
    f.write_text("old\n")
    times = {}
    times["write"] = host_change_seen(box, f, "content", "new\n", lambda: f.write_text("new\n"))

    def append():
        with open(f, "a") as fh:
            fh.write("more\n")
    times["append"] = host_change_seen(box, f, "content", "new\nmore\n", append)
    g = d / "g.txt"
    times["create"] = host_change_seen(box, g, "content", "created\n", lambda: g.write_text("created\n"))
    r = d / "renamed.txt"
    times["rename"] = host_change_seen(box, g, "gone", "", lambda: os.rename(g, r))
    assert box.ok("cat", r).out == "created\n"
    times["delete"] = host_change_seen(box, r, "gone", "", r.unlink)
    print("host -> guest, s:", {k: round(v, 3) for k, v in times.items()})
    slow = {k: round(v, 2) for k, v in times.items() if v > HOST_TO_GUEST_S}
    assert not slow, f"seen later than {HOST_TO_GUEST_S} s: {slow} (all: {times})"


def test_guest_write_rename_delete_on_host_when_command_returns(box):
    d = subdir(box, "g2h")
    box.ok("sh", "-c", f"cd {d} && printf one > a && printf two > b")
    assert (d / "a").read_text() == "one" and (d / "b").read_text() == "two"
    box.ok("sh", "-c", f"cd {d} && printf 'one more' >> a")
    assert (d / "a").read_text() == "oneone more"
    box.ok("mv", f"{d}/b", f"{d}/c")
    assert not (d / "b").exists() and (d / "c").read_text() == "two"
    box.ok("rm", f"{d}/c")
    assert not (d / "c").exists()
    # a file the guest still has open: its writes are on the host already
    p = box.home.popen("exec", box.name, "python3", "-c",
                       f"import sys,time; f=open('{d}/open.txt','w'); f.write('held'); f.flush(); "
                       "print('written', flush=True); time.sleep(5)")
    try:
        assert p.stdout.readline().strip() == b"written"
        assert (d / "open.txt").read_text() == "held"
    finally:
        p.kill()
        p.wait()
        p.stdout.close()
        p.stderr.close()


def test_mtime_mode_symlink_survive_both_ways(box):
    d = subdir(box, "meta")
    # guest -> host
    box.ok("sh", "-c", f"cd {d} && printf x > g && chmod 0751 g && touch -m -d @1500000000 g "
                       "&& ln -s ../some/target glink && mkdir gd && chmod 0700 gd")
    st = os.stat(d / "g")
    assert int(st.st_mtime) == 1500000000 and stat.S_IMODE(st.st_mode) == 0o751, st
    assert os.readlink(d / "glink") == "../some/target"
    assert stat.S_IMODE(os.stat(d / "gd").st_mode) == 0o700
    # host -> guest, on a file the guest has already seen
    h = d / "h"
    h.write_text("y")
    os.chmod(h, 0o640)
    box.ok("stat", h)

    def change():
        os.chmod(h, 0o604)
        os.utime(h, (1400000000, 1400000000))
    assert host_change_seen(box, h, "meta", "1400000000 604", change) <= HOST_TO_GUEST_S
    hl = d / "hlink"
    assert host_change_seen(box, hl, "meta", "link /abs/target",
                            lambda: os.symlink("/abs/target", hl)) <= HOST_TO_GUEST_S
    out = box.ok("stat", "-c", "%Y %a", d / "g", h).out.split("\n")
    assert out[0] == "1500000000 751" and out[1] == "1400000000 604", out
