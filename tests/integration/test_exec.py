# SPDX-License-Identifier: MIT
# test_exec.py: run/exec semantics on one shared running sandbox: exit codes, stdio, users, options.
import hashlib
import os
import signal
import threading
import time

import pytest

from conftest import SBX_BIN, agent_gid, agent_uid, wait_until


# --- exit status ---------------------------------------------------------

def test_run_exit_status_and_streams(box):
    h = box.home
    r = h.sbx("run", "--name", box.name, "shell", box.ws, "--",
              "sh", "-c", "echo out; echo err >&2; exit 7")
    assert r.rc == 7, f"{r!r}\n{h.diag()}"
    assert r.out == "out\n", r
    assert "err" in r.err, r


def test_run_flag_args_are_appended_to_default_command(box):
    # shell's default command is `bash -l`; arguments starting with a flag are appended.
    r = box.home.sbx("run", "--name", box.name, "shell", box.ws, "--", "-c", "echo via-bash:$0")
    assert r.rc == 0, r
    assert "via-bash:bash" in r.out, r


@pytest.mark.parametrize("cmd,status", [
    (["true"], 0),
    (["false"], 1),
    (["sh", "-c", "exit 42"], 42),
    (["sh", "-c", "exit 255"], 255),
    (["sh", "-c", "kill -9 $$"], 137),
    (["sh", "-c", "kill -TERM $$"], 143),
    (["sh", "-c", "kill -SEGV $$"], 139),
    (["/no/such/binary"], 127),
], ids=["true", "false", "42", "255", "sigkill", "sigterm", "sigsegv", "notfound"])
def test_exec_exit_status(box, cmd, status):
    r = box.exec(*cmd)
    assert r.rc == status, r


def test_exec_not_found_message(box):
    r = box.exec("no-such-command-xyz")
    assert r.rc == 127, r
    assert "no-such-command-xyz" in r.err, r


def test_exec_not_executable(box):
    f = box.ws / "notexec.sh"
    f.write_text("#!/bin/sh\necho hi\n")
    os.chmod(f, 0o644)
    r = box.exec(str(f))
    assert r.rc == 126, r


# --- guest identity --------------------------------------------------------

def test_guest_kernel_differs_from_host(box):
    r = box.home.sbx("run", "--name", box.name, "shell", box.ws, "--", "uname", "-r")
    assert r.rc == 0, r
    guest = r.out.strip()
    assert guest, r
    assert guest != os.uname().release, f"guest kernel {guest} is the host's"


def test_hostname_is_sandbox_name(box):
    assert box.ok("hostname").out.strip() == box.name
    assert box.ok("cat", "/proc/sys/kernel/hostname").out.strip() == box.name


def test_default_user_is_agent(box):
    r = box.ok("id")
    assert box.ok("id", "-un").out.strip() == "agent", r
    assert int(box.ok("id", "-u").out) == agent_uid(), r
    assert int(box.ok("id", "-g").out) == agent_gid(), r


def test_user_root(box):
    assert box.ok("id", "-u", opts=["-u", "root"]).out.strip() == "0"


def test_sudo_without_password(box):
    box.ok("sudo", "-n", "true")
    assert box.ok("sudo", "-n", "id", "-u").out.strip() == "0"


def test_no_network_device(box):
    # No NIC: besides loopback only sbx0 exists, a dummy interface that carries the
    # default route into nftables' redirect; no interface is backed by a device.
    out = box.ok("ls", "/sys/class/net").out.split()
    assert sorted(out) == ["lo", "sbx0"], out
    devs = box.ok("sh", "-c", "ls -d /sys/class/net/*/device 2>/dev/null; true").out.split()
    assert devs == [], devs
    kind = box.ok("sh", "-c", "ip -d link show sbx0").out
    assert "dummy" in kind, kind


# --- cwd and environment -----------------------------------------------------

def test_default_cwd_is_workspace(box):
    assert box.ok("pwd").out.strip() == str(box.ws.resolve())
    r = box.home.sbx("run", "--name", box.name, "shell", box.ws, "--", "pwd")
    assert r.rc == 0 and r.out.strip() == str(box.ws.resolve()), r


def test_exec_workdir(box):
    assert box.ok("pwd", opts=["-w", "/tmp"]).out.strip() == "/tmp"


def test_exec_workdir_missing(box):
    r = box.exec("pwd", opts=["-w", "/no/such/dir"])
    assert r.rc != 0, r
    assert r.err.strip(), r


def test_exec_env(box):
    r = box.ok("sh", "-c", 'printf "%s|%s" "$FOO" "$BAR"',
               opts=["-e", "FOO=bar baz", "-e", "BAR=a=b"])
    assert r.out == "bar baz|a=b", r


def test_exec_env_not_leaked_from_host(box):
    r = box.exec("sh", "-c", 'printf "%s" "${SBX_HOME-unset}"')
    assert r.rc == 0 and r.out == "unset", r


def test_exec_as_agent_has_home(box):
    r = box.ok("sh", "-c", 'printf "%s" "$HOME"')
    assert r.out == "/home/agent", r


# --- stdio -------------------------------------------------------------------

def test_stdin_not_forwarded_without_i(box):
    r = box.exec("cat", input=b"should-not-arrive\n", timeout=60)
    assert r.rc == 0, r
    assert r.out == "", r


def test_stdin_forwarded_with_i(box):
    r = box.exec("cat", opts=["-i"], input=b"line1\nline2\n", timeout=60)
    assert r.rc == 0 and r.out == "line1\nline2\n", r


def test_stdin_eof_with_i_and_empty_input(box):
    r = box.exec("wc", "-c", opts=["-i"], input=b"", timeout=60)
    assert r.rc == 0 and r.out.strip() == "0", r


def test_100mb_roundtrip_intact(box):
    data = os.urandom(100 * 1024 * 1024)
    want = hashlib.sha256(data).hexdigest()
    t0 = time.monotonic()
    r = box.exec("sh", "-c", "cat", opts=["-i"], input=data, timeout=600)
    dt = time.monotonic() - t0
    assert r.rc == 0, r
    assert len(r.out_b) == len(data), f"got {len(r.out_b)} bytes"
    assert hashlib.sha256(r.out_b).hexdigest() == want
    print(f"100 MiB through exec -i cat in {dt:.1f}s")


def test_100mb_host_to_guest_checksum(box):
    data = os.urandom(100 * 1024 * 1024)
    r = box.exec("sha256sum", opts=["-i"], input=data, timeout=600)
    assert r.rc == 0, r
    assert r.out.split()[0] == hashlib.sha256(data).hexdigest()


def test_100mb_guest_to_host_checksum(box):
    r = box.exec("sh", "-c",
                 "head -c 104857600 /dev/urandom > /var/tmp/big && sha256sum /var/tmp/big >&2 "
                 "&& cat /var/tmp/big; rc=$?; rm -f /var/tmp/big; exit $rc", timeout=600)
    assert r.rc == 0, r
    assert len(r.out_b) == 100 * 1024 * 1024
    assert hashlib.sha256(r.out_b).hexdigest() == r.err.split()[0], r.err


def test_stdout_stderr_interleaved_large(box):
    # Both streams busy at once: neither may block the other.
    r = box.exec("sh", "-c", "head -c 5000000 /dev/zero; head -c 3000000 /dev/zero >&2; "
                 "head -c 5000000 /dev/zero", timeout=300)
    assert r.rc == 0
    assert len(r.out_b) == 10000000 and len(r.err_b) >= 3000000


# --- concurrency and disconnects ----------------------------------------------

def test_parallel_execs(box):
    n = 8
    results = [None] * n

    def one(i):
        results[i] = box.exec("sh", "-c", 'sleep 1; echo "out-$1"; echo "err-$1" >&2; exit $1',
                              "_", str(i), timeout=300)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, r in enumerate(results):
        assert r is not None
        assert r.rc == i, r
        assert r.out == f"out-{i}\n", r
        assert f"err-{i}" in r.err, r


def _guest_has(box, pattern):
    return box.exec("pgrep", "-fx", pattern, timeout=60).rc == 0


def test_client_disconnect_kills_guest_process(box):
    p = box.home.popen("exec", box.name, "sleep", "987")
    try:
        assert wait_until(lambda: _guest_has(box, "sleep 987"), 60, 0.5), box.home.diag()
        p.kill()
        p.wait(30)
        gone = wait_until(lambda: not _guest_has(box, "sleep 987"), 30, 0.5)
        assert gone, "guest process survived its client's disconnect"
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert box.ok("echo", "still-fine").out == "still-fine\n"
    box.home.ok("daemon", "status", timeout=30)


def test_sigint_is_forwarded(box):
    p = box.home.popen("exec", box.name, "sleep", "988")
    try:
        assert wait_until(lambda: _guest_has(box, "sleep 988"), 60, 0.5), box.home.diag()
        p.send_signal(signal.SIGINT)
        rc = p.wait(30)
        assert rc == 128 + signal.SIGINT, (rc, p.stderr.read())
        assert wait_until(lambda: not _guest_has(box, "sleep 988"), 30, 0.5)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_flooding_exec_does_not_stall_others(box):
    # A client that never reads: its stream runs out of credit, the guest process
    # blocks, and other execs on the same channel still get through quickly.
    p = box.home.popen("exec", box.name, "sh", "-c", "exec yes flood-989")
    try:
        assert wait_until(lambda: _guest_has(box, "yes flood-989"), 60, 0.5), box.home.diag()
        time.sleep(1)
        for i in range(5):
            t0 = time.monotonic()
            r = box.exec("echo", f"ok{i}", timeout=60)
            assert r.rc == 0 and r.out == f"ok{i}\n", r
            assert time.monotonic() - t0 < 10, "exec stalled behind a flooding stream"
        big = box.exec("head", "-c", "20000000", "/dev/zero", timeout=120)
        assert big.rc == 0 and len(big.out_b) == 20000000
    finally:
        p.kill()
        p.wait()
        p.stdout.close()
        p.stderr.close()
    assert wait_until(lambda: not _guest_has(box, "yes flood-989"), 30, 0.5)
    box.home.ok("daemon", "status", timeout=30)


def test_many_sequential_execs(box):
    for i in range(20):
        r = box.exec("echo", str(i), timeout=60)
        assert r.rc == 0 and r.out == f"{i}\n", r


def test_exec_tty_requested_without_terminal(box):
    # -t with no terminal on our side must not hang: either it works or it says why.
    r = box.exec("true", opts=["-t"], timeout=60)
    assert r.rc == 0 or r.err.strip(), r


def test_exec_with_pty(box):
    # A real terminal on the client side: the guest process sees a tty.
    import pty
    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.execve(str(SBX_BIN), ["sbx", "exec", "-t", box.name, "sh", "-c", "tty; exit 3"],
                      box.home.env)
        finally:
            os._exit(127)
    out = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    text = out.decode("utf-8", "replace")
    assert os.waitstatus_to_exitcode(status) == 3, text
    assert "/dev/pts/" in text, text
