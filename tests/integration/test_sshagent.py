# SPDX-License-Identifier: MIT
# test_sshagent.py: SSH agent forwarding in real VMs: list and sign pass the filter, the rest is refused.
"""The host side runs a real ssh-agent holding a throwaway ed25519 key; sbx is run
with SSH_AUTH_SOCK pointing at it (every command of that SbxHome, daemon included).
Inside the guest, ssh-add -l and ssh-keygen -Y sign work through sbx-guest's socket;
ssh-add -D, -d and -x fail and the host agent still holds its key, unlocked. Every
ssh-agent started here is killed by PID.
"""

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import TMP_BASE, agent_uid, new_home, wait_until

GUEST_SOCK = "/run/sbx/ssh-agent.sock"
NAMESPACE = "sbx-test@example.com"


def need(tool):
    if not shutil.which(tool):
        pytest.skip(f"{tool} not installed (openssh-client)")


class HostAgent:
    def __init__(self):
        need("ssh-agent")
        need("ssh-keygen")
        need("ssh-add")
        self.dir = Path(tempfile.mkdtemp(prefix="sbxag-", dir=TMP_BASE))
        self.sock = self.dir / "agent.sock"
        self.key = self.dir / "key"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "sbx-agent-test",
                        "-f", str(self.key)], check=True, timeout=30)
        fp = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", f"{self.key}.pub"],
                            check=True, capture_output=True, text=True, timeout=30).stdout
        self.fingerprint = fp.split()[1]
        assert self.fingerprint.startswith("SHA256:"), fp
        self.proc = subprocess.Popen(["ssh-agent", "-D", "-a", str(self.sock)],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        assert wait_until(self.sock.exists, 10), "ssh-agent did not create its socket"
        r = self.add_cmd(str(self.key))
        assert r.returncode == 0, r.stderr

    def env(self):
        return {**os.environ, "SSH_AUTH_SOCK": str(self.sock)}

    def add_cmd(self, *args):
        return subprocess.run(["ssh-add", *args], env=self.env(), capture_output=True, text=True,
                              timeout=30)

    def listed(self):
        r = self.add_cmd("-l")
        return r.returncode == 0 and self.fingerprint in r.stdout

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def host_agent(sbx_bin):
    a = HostAgent()
    yield a
    a.close()


@pytest.fixture(scope="module")
def agbox(sbx, host_agent):
    """A running sandbox started by a caller whose SSH_AUTH_SOCK is the test agent."""
    h = new_home("ag")
    h.env["SSH_AUTH_SOCK"] = str(host_agent.sock)
    ws = h.workspace("agws")
    name = "agbox"
    h.ok("run", "-d", "--name", name, "shell", ws, timeout=300)
    assert h.status(name) == "running", h.diag()
    shutil.copy(f"{host_agent.key}.pub", ws / "key.pub")
    os.chmod(ws / "key.pub", 0o644)
    yield h, name, ws
    h.close()


def gexec(box, *cmd, **kw):
    h, name, _ = box
    kw.setdefault("timeout", 120)
    return h.sbx("exec", name, *cmd, **kw)


def audit_lines(h):
    out = []
    for p in (h.state_dir / "audit.log.1", h.state_dir / "audit.log"):
        try:
            out += p.read_text(errors="replace").splitlines()
        except OSError:
            pass
    return [line for line in out if '"ssh-agent"' in line]


# Homes without forwarding first, so that their VMs and agbox's do not run at once.

def test_no_socket_without_caller_agent(sbx):
    h = new_home("noag")
    h.env.pop("SSH_AUTH_SOCK", None)
    ws = h.workspace()
    try:
        h.ok("run", "-d", "--name", "noag", "shell", ws, timeout=300)
        r = h.sbx("exec", "noag", "sh", "-c",
                  f'echo "[$SSH_AUTH_SOCK]"; test -e {GUEST_SOCK} && echo present; '
                  'test -e /etc/profile.d/sbx-ssh.sh && echo profile; true', timeout=120)
        assert r.rc == 0, r
        assert r.out.splitlines() == ["[]"], r
    finally:
        h.close()


def test_setting_disables_forwarding(sbx, host_agent):
    h = new_home("agoff")
    h.env["SSH_AUTH_SOCK"] = str(host_agent.sock)
    ws = h.workspace()
    try:
        h.ok("settings", "set", "ssh.agentForwardingEnabled", "false", timeout=60)
        h.ok("run", "-d", "--name", "agoff", "shell", ws, timeout=300)
        r = h.sbx("exec", "agoff", "sh", "-c",
                  f'echo "[$SSH_AUTH_SOCK]"; test -e {GUEST_SOCK} && echo present; true', timeout=120)
        assert r.rc == 0, r
        assert r.out.splitlines() == ["[]"], r
    finally:
        h.close()


def test_socket_and_environment(agbox):
    h = agbox[0]
    r = gexec(agbox, "sh", "-c", 'echo "$SSH_AUTH_SOCK"; stat -c "%a %u %F" ' + GUEST_SOCK)
    assert r.rc == 0, f"{r!r}\n{h.diag()}"
    lines = r.out.splitlines()
    assert lines[0] == GUEST_SOCK, r
    assert lines[1] == f"600 {agent_uid()} socket", r
    # login shells get it from profile.d too
    r = gexec(agbox, "sh", "-c", "env -u SSH_AUTH_SOCK sh -lc 'echo $SSH_AUTH_SOCK'")
    assert r.rc == 0 and r.out.strip() == GUEST_SOCK, r
    # the caller's own socket path never reaches the guest
    r = gexec(agbox, "env")
    assert str(agbox[0].env["SSH_AUTH_SOCK"]) not in r.out, r


def test_list_identities(agbox, host_agent):
    r = gexec(agbox, "ssh-add", "-l")
    assert r.rc == 0, f"{r!r}\n{agbox[0].diag()}"
    assert host_agent.fingerprint in r.out, r
    r = gexec(agbox, "ssh-add", "-L")
    assert r.rc == 0, r
    assert r.out.split()[:2] == Path(f"{host_agent.key}.pub").read_text().split()[:2], r


def test_sign_in_guest_verifies_on_host(agbox, host_agent):
    h, _, ws = agbox
    data = ws / "data.txt"
    data.write_text("signed inside the sandbox\n")
    os.chmod(data, 0o644)
    if os.getuid() == 0:
        os.chown(data, agent_uid(), agent_uid())
    r = gexec(agbox, "ssh-keygen", "-Y", "sign", "-n", NAMESPACE, "-f", str(ws / "key.pub"), str(data))
    assert r.rc == 0, f"{r!r}\n{h.diag()}"
    sig = ws / "data.txt.sig"
    assert sig.exists(), r
    with open(data, "rb") as f:
        v = subprocess.run(["ssh-keygen", "-Y", "check-novalidate", "-n", NAMESPACE,
                            "-f", f"{host_agent.key}.pub", "-s", str(sig)],
                           stdin=f, capture_output=True, text=True, timeout=30)
    assert v.returncode == 0, v.stderr
    # one audit line per signature request, with the key's fingerprint
    lines = audit_lines(h)
    assert any(f"sign {host_agent.fingerprint}" in line and '"decision":"allow"' in line
               and '"sandbox":"agbox"' in line for line in lines), lines


def test_refused_requests_leave_host_agent_intact(agbox, host_agent):
    h, _, ws = agbox
    r = gexec(agbox, "ssh-add", "-D")
    assert r.rc != 0, r
    r = gexec(agbox, "ssh-add", "-d", str(ws / "key.pub"))
    assert r.rc != 0, r
    askpass = ws / "askpass.sh"
    askpass.write_text("#!/bin/sh\necho lockpw\n")
    os.chmod(askpass, 0o755)
    r = gexec(agbox, "env", f"SSH_ASKPASS={askpass}", "SSH_ASKPASS_REQUIRE=force", "ssh-add", "-x")
    assert r.rc != 0, r
    # adding a key is refused too
    r = gexec(agbox, "sh", "-c", "ssh-keygen -q -t ed25519 -N '' -f /tmp/k2 && ssh-add /tmp/k2")
    assert r.rc != 0, r
    # the host agent still holds its key and is not locked
    assert host_agent.listed(), host_agent.add_cmd("-l")
    r = host_agent.add_cmd("-L")
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 1, r
    # and the guest can still use it
    r = gexec(agbox, "ssh-add", "-l")
    assert r.rc == 0 and host_agent.fingerprint in r.out, r
    lines = audit_lines(h)
    assert any("refused remove-all-identities (19)" in line for line in lines), lines
    assert any("refused lock (22)" in line for line in lines), lines


def test_destination_constrained_key_not_offered(agbox, host_agent):
    """A key added with ssh-add -h (usable only to log in to testhost) is neither listed
    in the guest nor used to sign there: sbxd binds its host connections as forwarded."""
    h, _, ws = agbox
    d = host_agent.dir
    ck = d / "ckey"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "sbx-constrained", "-f", str(ck)],
                   check=True, timeout=30)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / "hostkey")], check=True,
                   timeout=30)
    (d / "known_hosts").write_text("testhost " + " ".join((d / "hostkey.pub").read_text().split()[:2]) + "\n")
    r = host_agent.add_cmd("-H", str(d / "known_hosts"), "-h", "testhost", str(ck))
    assert r.returncode == 0, r.stderr
    try:
        assert "sbx-constrained" in host_agent.add_cmd("-l").stdout
        shutil.copy(f"{ck}.pub", ws / "ckey.pub")
        os.chmod(ws / "ckey.pub", 0o644)
        r = gexec(agbox, "ssh-add", "-l")
        assert r.rc == 0 and host_agent.fingerprint in r.out, r
        assert "sbx-constrained" not in r.out and len(r.out.splitlines()) == 1, r
        r = gexec(agbox, "ssh-keygen", "-Y", "sign", "-n", NAMESPACE, "-f", str(ws / "ckey.pub"),
                  str(ws / "ckey.pub"))
        assert r.rc != 0, r
    finally:
        host_agent.add_cmd("-d", f"{ck}.pub")


def test_host_agent_gone_fails_fast(agbox, host_agent):
    """Last in this module: stops the host agent."""
    host_agent.stop()
    # The guest still connects to its socket; every request is answered SSH_AGENT_FAILURE.
    t0 = time.monotonic()
    r = gexec(agbox, "ssh-add", "-l", timeout=60)
    assert r.rc != 0, r
    r = gexec(agbox, "ssh-keygen", "-Y", "sign", "-n", NAMESPACE, "-f", str(agbox[2] / "key.pub"),
              str(agbox[2] / "key.pub"), timeout=60)
    assert r.rc != 0, r
    assert time.monotonic() - t0 < 30, "requests to a dead host agent must fail fast"
