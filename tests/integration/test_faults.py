# SPDX-License-Identifier: MIT
# test_faults.py: guests that never come up or die in boot, QEMU that fails to start, a flooding exec.
import time

from conftest import pid_alive, wait_until

# The daemon inherits the environment of the sbx command that starts it, so each of
# these tests uses its own SBX_HOME and sets the knobs on its first command:
# SBX_BOOT_TIMEOUT (seconds), SBX_GUEST_CMDLINE (appended to the kernel command line),
# SBX_QEMU (the QEMU binary).


def _assert_nothing_running(h, name):
    assert wait_until(lambda: not h.vm_processes(), 15), f"left running: {h.vm_processes()}"
    vj = h.vm_json(name)
    if vj:
        assert not pid_alive(vj.get("qemu_pid", 0), vj.get("qemu_start"))
        assert not pid_alive(vj.get("vfsd_pid", 0), vj.get("vfsd_start"))
    assert h.status(name) == "stopped", h.ls_json()


def test_guest_that_never_comes_up(fresh):
    ws = fresh.workspace()
    # No init and panic=0: the kernel panics and waits forever; QEMU stays up.
    # 20 s: under TCG with other VMs running, reaching the panic took over 8 s once.
    env = {"SBX_BOOT_TIMEOUT": "20",
           "SBX_GUEST_CMDLINE": "rdinit=/no/such/init init=/no/such/init panic=0"}
    t0 = time.monotonic()
    r = fresh.sbx("run", "--name", "hang", "shell", ws, "--", "true", env=env, timeout=180)
    took = time.monotonic() - t0
    assert r.rc != 0, r
    assert "did not come up" in r.err, r
    # The tail of the console log is shown.
    assert "console" in r.err and "panic" in r.err.lower(), r
    assert took < 75, f"took {took:.0f}s with a 20 s boot timeout"
    _assert_nothing_running(fresh, "hang")
    # exec on it fails the same way, and still leaves nothing running.
    r = fresh.sbx("exec", "hang", "true", timeout=180)
    assert r.rc != 0 and r.err.strip(), r
    _assert_nothing_running(fresh, "hang")


def test_guest_that_dies_during_boot(fresh):
    ws = fresh.workspace()
    env = {"SBX_BOOT_TIMEOUT": "60",
           "SBX_GUEST_CMDLINE": "rdinit=/no/such/init init=/no/such/init panic=-1"}
    t0 = time.monotonic()
    r = fresh.sbx("run", "--name", "dies", "shell", ws, "--", "true", env=env, timeout=180)
    assert r.rc != 0, r
    assert "exited during boot" in r.err and "panic" in r.err.lower(), r
    assert time.monotonic() - t0 < 50, "did not notice QEMU's exit"
    _assert_nothing_running(fresh, "dies")


def test_qemu_that_fails_to_start(fresh):
    ws = fresh.workspace()
    r = fresh.sbx("run", "--name", "noqemu", "shell", ws, "--", "true",
                  env={"SBX_QEMU": "/bin/false"}, timeout=180)
    assert r.rc != 0 and r.err.strip(), r
    _assert_nothing_running(fresh, "noqemu")
    # Its virtiofsd was not left waiting for a QEMU that never came.
    assert not fresh.vm_processes()


def test_console_flood_is_bounded(box):
    """Guest root writing to the serial console cannot fill the host's disk."""
    box.ok("sh", "-c", "head -c 6000000 /dev/zero | tr '\\0' x > /dev/ttyS0", opts=["-u", "root"], timeout=300)
    import time
    log = box.home.sandbox_dir(box.name) / "console.log"
    deadline = time.time() + 10
    while time.time() < deadline and log.stat().st_size > 4 * 1024 * 1024:
        time.sleep(0.5)
    assert log.stat().st_size <= 4 * 1024 * 1024 + 65536, log.stat().st_size


def test_hung_boot_is_relaunched_once_then_fails(fresh):
    """A guest that never says HELLO is killed and booted once more within the same
    deadline; when the second boot hangs too, the start fails and nothing is left."""
    ws = fresh.workspace()
    env = {"SBX_BOOT_TIMEOUT": "36",
           "SBX_GUEST_CMDLINE": "rdinit=/no/such/init init=/no/such/init panic=0"}
    t0 = time.monotonic()
    r = fresh.sbx("run", "--name", "hang2", "shell", ws, "--", "true", env=env, timeout=180)
    took = time.monotonic() - t0
    assert r.rc != 0 and "did not come up within 36 s" in r.err, r
    assert 30 < took < 90, took
    log = (fresh.state_dir / "sbxd.log").read_text()
    assert log.count("relaunching the VM once") == 1, log[-2000:]
    _assert_nothing_running(fresh, "hang2")
