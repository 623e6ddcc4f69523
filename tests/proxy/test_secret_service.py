# SPDX-License-Identifier: MIT
# tests/proxy/test_secret_service.py: the Secret Service backend of the secret store against a
# real gnome-keyring on a private session bus: `sbx secret`, the choice recorded under auto,
# injection by the proxy engine, failing closed without a bus, a locked keyring.
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import REPO, SBX
from test_intercept import (GUEST, HOST, STORED, configure, no_key_anywhere, pki, request, sbx_ctx,  # noqa: F401
                            secret_set, seen, start, tls_up, tls_to)

PASSWORD = b"sbx-test-keyring-password"
OTHER = "sk-ant-second-value-abcdefghij"
LOGIN = "/org/freedesktop/secrets/collection/login"

BUS_CONF = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={path}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


def _stop(proc):
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def start_bus(d):
    """A private dbus-daemon: (process, address). Its PID is the Popen's (--nofork)."""
    (d / "bus.conf").write_text(BUS_CONF.format(path=d / "bus"))
    p = subprocess.Popen(["dbus-daemon", f"--config-file={d / 'bus.conf'}", "--nofork", "--print-address=1",
                          "--print-pid=1"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    address = p.stdout.readline().decode().strip()
    pid = int(p.stdout.readline().decode().strip() or 0)
    if not address or pid != p.pid:
        _stop(p)
        raise RuntimeError("dbus-daemon did not start")
    return p, address


class Keyring:
    """A private session bus with gnome-keyring's Secret Service, login keyring unlocked."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="sbx-keyring-"))
        self.bus = self.keyring = None
        for sub in ("home", "data", "config", "cache", "run"):
            (self.dir / sub).mkdir(mode=0o700)
        self.bus, self.address = start_bus(self.dir)
        self.env = dict(os.environ, DBUS_SESSION_BUS_ADDRESS=self.address, HOME=str(self.dir / "home"),
                        XDG_DATA_HOME=str(self.dir / "data"), XDG_CONFIG_HOME=str(self.dir / "config"),
                        XDG_CACHE_HOME=str(self.dir / "cache"), XDG_RUNTIME_DIR=str(self.dir / "run"))
        self.start_keyring()

    def start_keyring(self):
        """(Re)start gnome-keyring-daemon; the password on stdin unlocks (or creates) login."""
        log = open(self.dir / "keyring.log", "ab")
        self.keyring = subprocess.Popen(["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets"],
                                        stdin=subprocess.PIPE, stdout=log, stderr=log, env=self.env)
        log.close()
        self.keyring.stdin.write(PASSWORD)
        self.keyring.stdin.close()
        for _ in range(100):
            if self.has_owner() and not self.locked():
                return
            time.sleep(0.1)
        raise RuntimeError("gnome-keyring did not come up: " + (self.dir / "keyring.log").read_text())

    def restart_keyring(self):
        _stop(self.keyring)
        self.start_keyring()

    def dbus_send(self, *args):
        return subprocess.run(["dbus-send", "--session", "--print-reply", *args], capture_output=True, text=True,
                              env=self.env, timeout=10)

    def has_owner(self):
        r = self.dbus_send("--dest=org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus.NameHasOwner",
                           "string:org.freedesktop.secrets")
        return "boolean true" in r.stdout

    def locked(self):
        r = self.dbus_send("--dest=org.freedesktop.secrets", LOGIN, "org.freedesktop.DBus.Properties.Get",
                           "string:org.freedesktop.Secret.Collection", "string:Locked")
        return r.returncode != 0 or "boolean true" in r.stdout

    def lock(self):
        # Service.Lock never prompts (secret-tool lock hangs in libsecret 0.20.5)
        r = self.dbus_send("--dest=org.freedesktop.secrets", "/org/freedesktop/secrets",
                           "org.freedesktop.Secret.Service.Lock", f"array:objpath:{LOGIN}")
        assert r.returncode == 0, r.stderr
        assert self.locked()

    def lookup(self, **attrs):
        """The value secret-tool finds for these attributes (None: nothing)."""
        args = [x for kv in attrs.items() for x in kv]
        r = subprocess.run(["secret-tool", "lookup", *args], capture_output=True, env=self.env, timeout=10)
        return r.stdout.decode() if r.returncode == 0 else None

    def close(self):
        _stop(self.keyring)
        _stop(self.bus)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def keyring():
    missing = [t for t in ("dbus-daemon", "gnome-keyring-daemon", "dbus-send", "secret-tool") if not shutil.which(t)]
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: run scripts/setup.sh --deps-only")
    k = Keyring()
    # test_intercept's helpers (secret_set, start) run sbx with os.environ
    saved = os.environ.get("DBUS_SESSION_BUS_ADDRESS")
    os.environ["DBUS_SESSION_BUS_ADDRESS"] = k.address
    try:
        yield k
    finally:
        if saved is None:
            os.environ.pop("DBUS_SESSION_BUS_ADDRESS", None)
        else:
            os.environ["DBUS_SESSION_BUS_ADDRESS"] = saved
        k.close()


def sbx(home, *args, value=None, env=None):
    e = dict(env if env is not None else os.environ, SBX_HOME=str(home))
    return subprocess.run([str(SBX), *args], input=(value + "\n").encode() if value else b"", capture_output=True,
                          env=e, timeout=30)


def settings_of(home):
    p = Path(home) / "config" / "settings.json"
    return json.loads(p.read_text()) if p.exists() else {}


def nothing_under(home, *values):
    for f in Path(home).rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            for v in values:
                assert v.encode() not in data, f"{v} found in {f}"


# ---------------------------------------------------------------- the CLI

def test_set_ls_rm_in_the_keyring(keyring, tmp_path):
    home = tmp_path / "home"
    r = sbx(home, "secret", "set", "anthropic", value=STORED)
    assert r.returncode == 0, r.stderr
    assert b"stored in the Secret Service (default collection) as 'sbx: anthropic (global)'" in r.stderr
    r = sbx(home, "secret", "set", "--sandbox", "sb1", "openai", value=OTHER)
    assert r.returncode == 0, r.stderr
    assert b"'sbx: openai (sandbox sb1)'" in r.stderr
    # in the keyring, under this SBX_HOME's config dir; not in config/
    config = str(home / "config")
    assert keyring.lookup(config=config, scope="global", service="anthropic") == STORED
    assert keyring.lookup(config=config, scope="sandbox", sandbox="sb1", service="openai") == OTHER
    assert not (home / "config" / "secrets.json").exists()
    assert settings_of(home).get("secrets.backend") == "secret-service"
    nothing_under(home, STORED, OTHER)

    r = sbx(home, "secret", "ls")
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    assert "global" in out and "sandbox:sb1" in out
    assert "sk-a\u2026ef" in out and "sk-a\u2026ij" in out
    assert STORED not in out and OTHER not in out
    assert b"Secret Service" in r.stderr
    r = sbx(home, "secret", "ls", "--json")
    assert r.returncode == 0, r.stderr
    entries = json.loads(r.stdout)
    assert {(e["scope"], e["sandbox"], e["service"], e["backend"]) for e in entries} == {
        ("global", None, "anthropic", "secret-service"), ("sandbox", "sb1", "openai", "secret-service")}
    assert all(e["preview"].startswith("sk-") and len(e["preview"]) < 12 for e in entries)
    assert STORED not in r.stdout.decode() and OTHER not in r.stdout.decode()

    r = sbx(home, "secret", "rm", "-g", "anthropic")
    assert r.returncode == 0, r.stderr
    assert keyring.lookup(config=config, scope="global", service="anthropic") is None
    r = sbx(home, "secret", "rm", "-g", "anthropic")
    assert r.returncode == 1 and b"no anthropic secret is stored globally" in r.stderr
    r = sbx(home, "secret", "rm", "--sandbox", "sb1", "openai")
    assert r.returncode == 0, r.stderr
    assert json.loads(sbx(home, "secret", "ls", "--json").stdout) == []


def test_homes_do_not_share_items(keyring, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert sbx(a, "secret", "set", "xai", value="xai-value-of-home-a-123").returncode == 0
    assert sbx(b, "secret", "set", "xai", value="xai-value-of-home-b-456").returncode == 0
    assert json.loads(sbx(a, "secret", "ls", "--json").stdout)[0]["preview"] == "xai-\u202623"
    assert sbx(b, "secret", "rm", "xai").returncode == 0
    assert len(json.loads(sbx(a, "secret", "ls", "--json").stdout)) == 1
    assert sbx(a, "secret", "rm", "xai").returncode == 0


def test_c_api_against_the_keyring(keyring):
    """secrets.c's API (sandbox fall-back, secrets_rm_sandbox as `sbx rm` calls it, replace)
    through tests/unit/test_secrets.c's keyring mode."""
    binary = Path(SBX).parent / "tests" / "test_secrets"
    if Path(SBX).parent == REPO / "build":
        subprocess.run(["make", "-s", "-C", str(REPO), "build/tests/test_secrets"], check=True, capture_output=True,
                       timeout=300)
    # else (SBX_BIN=build-asan/sbx): `make check-asan` built it with the sanitizers
    r = subprocess.run([str(binary)], capture_output=True, text=True, timeout=60,
                       env=dict(keyring.env, SBX_TEST_SECRET_SERVICE="1"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert " 0 failed" in r.stdout


def test_file_stays_where_it_is(keyring, tmp_path):
    home = tmp_path / "home"
    # explicit file, with a Secret Service running
    home.joinpath("config").mkdir(parents=True, mode=0o700)
    home.joinpath("config", "settings.json").write_text('{"secrets.backend": "file"}')
    r = sbx(home, "secret", "set", "groq", value="gsk-file-value-12345")
    assert r.returncode == 0 and b"file permissions" in r.stderr
    assert (home / "config" / "secrets.json").exists()
    # auto with the file there: still the file, nothing recorded
    home.joinpath("config", "settings.json").write_text("{}")
    r = sbx(home, "secret", "set", "mistral", value="mistral-file-value-12345")
    assert r.returncode == 0 and b"file permissions" in r.stderr
    assert "secrets.backend" not in settings_of(home)
    assert json.loads(sbx(home, "secret", "ls", "--json").stdout)[0]["backend"] == "file"
    assert keyring.lookup(config=str(home / "config"), service="mistral") is None


def test_auto_without_a_secret_service_uses_the_file(keyring, tmp_path):
    d = tmp_path / "bus2"
    d.mkdir()
    bus, address = start_bus(d)   # a session bus, but no keyring on it
    try:
        env = dict(os.environ, DBUS_SESSION_BUS_ADDRESS=address)
        home = tmp_path / "home"
        r = sbx(home, "secret", "set", "openai", value="sk-file-because-no-keyring", env=env)
        assert r.returncode == 0, r.stderr
        assert b"file permissions" in r.stderr
        assert (home / "config" / "secrets.json").stat().st_mode & 0o777 == 0o600
        assert "secrets.backend" not in settings_of(home)
        # explicit secret-service on that bus: fails, says why
        home2 = tmp_path / "home2"
        home2.joinpath("config").mkdir(parents=True, mode=0o700)
        home2.joinpath("config", "settings.json").write_text('{"secrets.backend": "secret-service"}')
        t0 = time.monotonic()
        r = sbx(home2, "secret", "set", "openai", value="sk-nowhere-to-go-1234", env=env)
        assert r.returncode == 1
        assert b"nothing provides org.freedesktop.secrets" in r.stderr, r.stderr
        assert time.monotonic() - t0 < 10
        assert not (home2 / "config" / "secrets.json").exists()
    finally:
        _stop(bus)


def test_secret_service_without_bus_fails_closed(keyring, bench, pki, tls_up, monkeypatch):
    configure(bench, pki, tls_up, secrets_backend="secret-service")
    nowhere = f"unix:path={bench.home}/no-such-bus"
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", nowhere)
    for args in (["secret", "set", "anthropic"], ["secret", "ls"], ["secret", "ls", "--json"],
                 ["secret", "rm", "anthropic"]):
        r = sbx(bench.home, *args, value=STORED)
        assert r.returncode == 1, (args, r.stdout)
        assert b"Secret Service" in r.stderr and b"session bus" in r.stderr, r.stderr
    env = {k: v for k, v in os.environ.items() if k not in ("DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR")}
    r = sbx(bench.home, "secret", "ls", env=env)
    assert r.returncode == 1 and b"no session bus" in r.stderr
    assert not (bench.home / "config" / "secrets.json").exists()

    # the proxy: the caller's environment has a key, but the store is broken: an
    # answer naming the problem, never a request forwarded without (or with another) key
    start(bench, caller_env={"ANTHROPIC_API_KEY": "sk-ant-from-the-environment-1"})
    t = tls_to(bench, sbx_ctx(bench))
    status, _, body = request(t, extra=GUEST)
    assert status == 502, body
    assert b"secret store" in body and b"Secret Service" in body and b"session bus" in body
    assert not [e for e in bench.audit() if e.get("reason") == "injected anthropic"]


# ---------------------------------------------------------------- the proxy engine

def test_keyring_key_injected_and_changes_apply(keyring, bench, pki, tls_up):
    configure(bench, pki, tls_up)
    secret_set(bench, "anthropic", STORED)
    assert not (bench.home / "config" / "secrets.json").exists()
    assert settings_of(bench.home).get("secrets.backend") == "secret-service"
    start(bench)
    t = tls_to(bench, sbx_ctx(bench))
    status, _, body = request(t, extra=GUEST)
    assert status == 200 and seen(body)["x-api-key"] == [STORED]
    # a new value from another process reaches the running engine within about a second
    secret_set(bench, "anthropic", OTHER)
    deadline = time.monotonic() + 5
    while True:
        status, _, body = request(t, extra=GUEST)
        assert status == 200
        if seen(body)["x-api-key"] == [OTHER]:
            break
        assert seen(body)["x-api-key"] == [STORED]
        assert time.monotonic() < deadline, "the new value never arrived"
        time.sleep(0.1)
    status, _, body = request(t, close=True)
    assert seen(body)["x-api-key"] == [OTHER]
    bench.stop()
    no_key_anywhere(bench, STORED, OTHER)
    nothing_under(bench.home, STORED, OTHER)


def test_locked_keyring(keyring, bench, pki, tls_up):
    """Last: it locks the shared keyring (and restarts gnome-keyring to unlock it)."""
    configure(bench, pki, tls_up)
    secret_set(bench, "anthropic", STORED)
    start(bench)
    t = tls_to(bench, sbx_ctx(bench))
    status, _, body = request(t)
    assert status == 200 and seen(body)["x-api-key"] == [STORED]
    keyring.lock()
    try:
        for args in (["secret", "ls"], ["secret", "set", "openai"], ["secret", "rm", "anthropic"]):
            r = sbx(bench.home, *args, value="sk-while-locked-12345")
            assert r.returncode == 1, args
            assert b"locked" in r.stderr and b"unlock your keyring" in r.stderr, r.stderr
        # the engine notices within its cache lifetime and answers why, without a key
        deadline = time.monotonic() + 5
        while True:
            t = tls_to(bench, sbx_ctx(bench))
            status, _, body = request(t, extra=GUEST)
            if status != 200:
                break
            assert time.monotonic() < deadline, "still forwarding with a locked keyring"
            time.sleep(0.2)
        assert status == 502 and b"unlock your keyring" in body, body
        assert STORED.encode() not in body
    finally:
        keyring.restart_keyring()
    # unlocked again (a new gnome-keyring process): the engine reconnects by itself
    deadline = time.monotonic() + 5
    while True:
        t = tls_to(bench, sbx_ctx(bench))
        status, _, body = request(t, close=True)
        if status == 200:
            break
        assert time.monotonic() < deadline, body
        time.sleep(0.2)
    assert seen(body)["x-api-key"] == [STORED]
    bench.stop()
    no_key_anywhere(bench, STORED)


def _installed(name):
    """A file of the sbx under test: beside it (build/) or where make install puts it."""
    for d in (Path(SBX).parent, Path(SBX).parent.parent / "lib" / "sbx"):
        if (d / name).exists():
            return d / name
    raise FileNotFoundError(name)


def test_missing_backend_library_fails_closed(keyring, tmp_path):
    """sbx without libsbx-keyring.so next to sbx-guest (a broken install): the Secret
    Service backend is refused with the reason, nothing falls back to the file."""
    inst = tmp_path / "inst"
    inst.mkdir()
    # the front, the full program it hands `secret` to, and the guest it looks beside
    for f in ("sbx", "sbx-full", "sbx-guest"):
        shutil.copy2(_installed(f), inst / f)
    home = tmp_path / "home"
    home.joinpath("config").mkdir(parents=True, mode=0o700)
    home.joinpath("config", "settings.json").write_text('{"secrets.backend": "secret-service"}')
    env = dict(os.environ, SBX_HOME=str(home))
    for args in (["secret", "set", "-g", "openai"], ["secret", "ls"]):
        r = subprocess.run([str(inst / "sbx"), *args], input=b"sk-no-library-here-12345\n", capture_output=True,
                           env=env, timeout=30)
        assert r.returncode != 0, r
        assert b"libsbx-keyring.so" in r.stderr and b"cannot load" in r.stderr, r.stderr
    assert not (home / "config" / "secrets.json").exists()
    # the same sbx with the library beside it works
    shutil.copy2(_installed("libsbx-keyring.so"), inst / "libsbx-keyring.so")
    r = subprocess.run([str(inst / "sbx"), "secret", "ls"], capture_output=True, env=env, timeout=30)
    assert r.returncode == 0, r.stderr
