# SPDX-License-Identifier: MIT
# test_faults_state.py: SBX_HOME on a full file system; corrupt policy, settings, secrets and sandbox state files.
"""Every command that writes state must fail cleanly on a full file system (an error
naming the cause, a non-zero exit, every existing file intact, no temporary file left);
every command that reads a corrupt file must fail with an error naming the file, and
must neither overwrite it nor lose any other file.

The full file system is a small tmpfs: as root the test mounts one itself; the
ordinary-user pass (scripts/test-as-user.sh) mounts one owned by that user and names it
in SBX_TEST_SMALLFS. Without either the test is skipped.
"""

import os
import re
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import new_home, wait_until

# Files that change on their own (logs) or are only locks: left out of the comparison.
VOLATILE = re.compile(r"(^|/)(sbxd\.log|audit\.log(\.1)?|console\.log|[^/]*\.lock|lock)$")


def snapshot(h):
    """{relative path: bytes} of every regular file under config/ and state/."""
    out = {}
    for top in ("config", "state"):
        root = h.home / top
        for dirpath, _dirs, files in os.walk(root):
            for f in files:
                p = Path(dirpath) / f
                rel = str(p.relative_to(h.home))
                if VOLATILE.search(rel) or p.is_symlink():
                    continue
                out[rel] = p.read_bytes()
    return out


def assert_intact(h, before, allow_missing=()):
    after = snapshot(h)
    for rel, data in before.items():
        assert rel in after or rel in allow_missing, f"{rel} was removed"
        if rel in after:
            assert after[rel] == data, f"{rel} changed"
    extra = [r for r in after if r not in before]
    assert not extra, f"new files: {extra}"


def assert_names_file(r, path, what=r"json|corrupt|invalid|not a|malformed|expected"):
    assert r.rc != 0, r
    assert str(path) in r.err, r
    assert re.search(what, r.err, re.I), r


# --- corrupt files -----------------------------------------------------------

@pytest.fixture
def state_home(sbx_bin, sbx):
    """A home with a policy, settings, a secret (file store) and two created sandboxes."""
    h = new_home("cor")
    h.ok("policy", "allow", "network", "one.test")
    h.ok("settings", "set", "secrets.backend", "file")
    h.ok("settings", "set", "proxy.dnsServers", "192.0.2.53")
    h.ok("secret", "set", "-g", "anthropic", input=b"sk-test-value\n")
    h.ws = h.workspace()
    h.ok("create", "--name", "one", "shell", h.ws)
    h.ok("create", "--name", "two", "shell", h.ws)
    yield h
    h.close()


def corrupt(h, rel, data=b'{"rules": [ {"id": 1,'):
    p = h.home / rel
    p.write_bytes(data)
    return p


def test_corrupt_policy_file(state_home):
    h = state_home
    p = corrupt(h, "config/policy.json")
    before = snapshot(h)
    for args in (("policy", "ls"), ("policy", "allow", "network", "new.test"),
                 ("policy", "check", "network", "one.test"), ("create", "--name", "three", "shell", h.ws)):
        assert_names_file(h.sbx(*args, timeout=120), p)
    assert_intact(h, before)
    # Everything else still works.
    h.ok("settings", "ls")
    assert "anthropic" in h.ok("secret", "ls").out


def test_corrupt_settings_file(state_home):
    h = state_home
    p = corrupt(h, "config/settings.json", b'{"proxy.dnsServers": "192.0.2.53",')
    before = snapshot(h)
    for args in (("settings", "ls"), ("settings", "get", "proxy.dnsServers"),
                 ("settings", "set", "proxy.resolve", "a.test:80=127.0.0.1:8080"),
                 ("settings", "unset", "proxy.dnsServers"), ("secret", "ls")):
        assert_names_file(h.sbx(*args, timeout=120), p)
    # Starting a sandbox reads the settings too (SSH agent forwarding, git protection,
    # the proxy's): it must not start with defaults in their place.
    r = h.sbx("exec", "one", "true", timeout=300)
    assert_names_file(r, p)
    assert h.status("one") == "stopped"
    assert_intact(h, before)
    h.ok("policy", "ls")


def test_corrupt_secrets_file(state_home):
    h = state_home
    p = corrupt(h, "config/secrets.json", b'{"version": 1, "secrets": [')
    before = snapshot(h)
    for args, inp in ((("secret", "ls"), None), (("secret", "set", "-g", "openai"), b"sk-other\n"),
                      (("secret", "rm", "-g", "anthropic"), None)):
        assert_names_file(h.sbx(*args, input=inp, timeout=120), p)
    assert_intact(h, before)
    h.ok("policy", "ls")
    h.ok("settings", "ls")


def test_corrupt_sandbox_spec(state_home):
    """A sandbox whose spec.json is corrupt stays visible (as broken, naming the file);
    commands on it fail, its files stay; the other sandbox is unaffected."""
    h = state_home
    h.ok("daemon", "stop")
    p = corrupt(h, "state/sandboxes/one/spec.json", b'{"name": "one", "agent": ')
    before = snapshot(h)
    r = h.sbx("ls")
    assert_names_file(r, p)
    assert re.search(r"^two\s", r.out, re.M), r
    assert re.search(r"^one\s.*broken", r.out, re.M), r
    for args in (("exec", "one", "true"), ("stop", "one"), ("rm", "one"), ("rm", "-f", "one"),
                 ("review", "one"), ("create", "--name", "one", "shell", h.ws)):
        assert_names_file(h.sbx(*args, timeout=120), p)
    assert_intact(h, before)
    # rm --all removes what it can and says what it could not.
    r = h.sbx("rm", "-f", "--all", timeout=120)
    assert_names_file(r, p)
    assert not h.sandbox_dir("two").exists()
    assert p.read_bytes() == before["state/sandboxes/one/spec.json"]


def test_corrupt_review_baseline(state_home):
    h = state_home
    p = corrupt(h, "state/sandboxes/one/baseline/manifest.json", b'{"version": 1, "files": [')
    before = snapshot(h)
    r = h.sbx("review", "one")
    assert_names_file(r, h.sandbox_dir("one") / "baseline", r"damaged")
    assert r.rc == 2, r
    assert_intact(h, before)
    assert p.read_bytes() == before["state/sandboxes/one/baseline/manifest.json"]


def test_corrupt_vm_record_of_a_running_sandbox(state_home):
    """run/vms/NAME/vm.json is how a restarted sbxd finds a running VM: when it is
    corrupt, the VM must not be orphaned and forgotten (shown as stopped while it runs)."""
    h = state_home
    h.ok("run", "-d", "--name", "one", "shell", h.ws, timeout=300)
    vm = h.vm_json("one")
    h.ok("daemon", "stop")
    p = h.vm_dir("one") / "vm.json"
    p.write_bytes(b'{"qemu_pid": ')
    r = h.sbx("ls")
    assert_names_file(r, p)
    assert re.search(r"^one\s.*broken", r.out, re.M), r
    assert p.exists()
    from conftest import pid_alive
    assert pid_alive(vm["qemu_pid"], vm["qemu_start"])
    r = h.sbx("exec", "one", "true", timeout=120)
    assert_names_file(r, p)
    # Fixing the file brings it back.
    p.write_text(f'{{"qemu_pid":{vm["qemu_pid"]},"qemu_start":{vm["qemu_start"]},'
                 f'"vfsd_pid":{vm["vfsd_pid"]},"vfsd_start":{vm["vfsd_start"]}}}')
    h.ok("daemon", "stop")
    h.ok("exec", "one", "true", timeout=180)


# --- a full file system ------------------------------------------------------

@pytest.fixture
def small_fs():
    """A directory on a 16 MiB file system of its own."""
    given = os.environ.get("SBX_TEST_SMALLFS")
    if given:
        yield Path(given)
        return
    if os.getuid() != 0:
        pytest.skip("needs root or SBX_TEST_SMALLFS (scripts/test-as-user.sh mounts one)")
    d = tempfile.mkdtemp(prefix="sbxfull-")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m,mode=0755", "tmpfs", d], check=True)
    try:
        yield Path(d)
    finally:
        subprocess.run(["umount", "-l", d], check=False)
        os.rmdir(d)


def fill(path):
    """Fill the file system of path to the last block."""
    with open(path / "fill", "wb", buffering=0) as f:
        chunk = b"\0" * (1 << 20)
        try:
            while True:
                f.write(chunk)
        except OSError:
            pass
        for size in (65536, 4096, 512, 1):
            try:
                while True:
                    f.write(b"\0" * size)

            except OSError:
                pass


def test_full_file_system(sbx_bin, sbx, small_fs):
    h = new_home("full", tmp_base=str(small_fs))
    try:
        h.ok("settings", "set", "secrets.backend", "file")
        h.ok("secret", "set", "-g", "anthropic", input=b"sk-test-value\n")
        h.ok("policy", "allow", "network", "one.test")
        ws = h.workspace()
        ws2 = h.workspace()
        h.ok("create", "--name", "one", "shell", ws, timeout=120)
        before = snapshot(h)
        fill(small_fs)
        for args, inp in ((("settings", "set", "proxy.dnsServers", "192.0.2.53"), None),
                          (("policy", "allow", "network", "two.test"), None),
                          (("policy", "init", "deny-all"), None),
                          (("secret", "set", "-g", "openai"), b"sk-other\n"),
                          (("create", "--name", "two", "shell", ws2), None)):
            r = h.sbx(*args, input=inp, timeout=120)
            assert r.rc != 0, r
            assert re.search(r"no space left on device", r.err, re.I), r
        # Starting a sandbox records its VM (run/vms/NAME/vm.json) for a later daemon to
        # adopt it: a VM it could not record must not be left running.
        r = h.sbx("exec", "one", "true", timeout=300)
        assert r.rc != 0, r
        assert re.search(r"no space left on device", r.err, re.I), r
        assert wait_until(lambda: not h.vm_processes(), 15), h.vm_processes()
        assert_intact(h, before)
        left = [str(p) for p in h.home.rglob("*.tmp*")]
        assert not left, left
        # Space back: the same commands work.
        (small_fs / "fill").unlink()
        h.ok("settings", "set", "proxy.dnsServers", "192.0.2.53")
        h.ok("create", "--name", "two", "shell", ws2, timeout=120)
    finally:
        try:
            (small_fs / "fill").unlink()
        except OSError:
            pass
        h.close()
