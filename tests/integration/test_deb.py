# SPDX-License-Identifier: MIT
# test_deb.py: the Debian package (make deb): its files, lintian, and an install into a throw-away root.
"""The .deb that ``make deb`` builds (``make test`` builds it before this suite).

- ``dpkg -c`` lists the Debian layout, and ``make install PREFIX=/usr`` gives the same
  files (less the package's docs and lintian overrides);
- ``lintian`` reports no error and no warning (those kept are overridden, with a reason);
- the package installs with apt into an mmdebstrap root (``--variant=apt``, the .deb
  given to ``--include``: apt resolves its Depends), where the installed binary finds
  its guest, its keyring library and its recipes: ``sbx version``, ``sbx diagnose``
  (its checks run; a chroot has no /dev/kvm, templates or user namespaces, so some
  fail), ``sbx template ls`` (the recipes) and ``sbx policy init balanced``.

mmdebstrap writes nothing (target /dev/null) and removes its root itself; its
temporary directory is ours, and whatever a failure leaves there is unmounted and
removed. As root it runs in root mode and reuses the host's apt cache (hard links
into the root's /var/cache/apt/archives), else in unshare mode (downloads).
``SBX_TEST_DEB_MIRROR`` gives it another mirror (default: deb.debian.org, with
updates and security for a stable suite).

The user pass of ``make test`` (scripts/test-as-user.sh) runs an installed copy of the
tests with no source tree and no .deb: this file skips there.
"""

import os
import re
import shlex
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MMDEBSTRAP_TIMEOUT = 900

# what the package must hold (dpkg -c), beside the man pages
EXPECTED = [
    "usr/bin/sbx",
    "usr/lib/sbx/sbx-full",
    "usr/lib/sbx/sbx-guest",
    "usr/lib/sbx/libsbx-keyring.so",
    "usr/share/sbx/recipes/minimal",
    "usr/share/sbx/recipes/agents",
    "usr/share/sbx/recipes/policy/balanced",
    "usr/share/man/man1/sbx.1.gz",
    "usr/share/man/man1/sbx-run.1.gz",
    "usr/share/bash-completion/completions/sbx",
    "usr/share/zsh/vendor-completions/_sbx",
    "usr/share/fish/vendor_completions.d/sbx.fish",
    "usr/share/doc/sbx/copyright",
    "usr/share/doc/sbx/changelog.gz",
    "usr/share/doc/sbx/README.md.gz",
    "usr/share/lintian/overrides/sbx",
]
# Depends that come from the programs sbx runs, and some dpkg-shlibdeps must find
RUNTIME_DEPENDS = ["qemu-system-x86", "qemu-system-common", "qemu-utils", "mmdebstrap", "uidmap", "e2fsprogs",
                   "git", "ca-certificates", "libarchive13"]
LIB_DEPENDS = ["libc6", "libjson-c5", "libssl3", "libsecret-1-0"]


def sbx_version():
    text = (REPO / "src" / "common" / "version.h").read_text()
    m = re.search(r'^#define SBX_VERSION "([^"]+)"$', text, re.M)
    assert m, "src/common/version.h has no SBX_VERSION"
    return m.group(1)


@pytest.fixture(scope="module")
def deb():
    if not (REPO / "Makefile").exists():
        pytest.skip("no source tree here (an installed copy of the tests): no .deb to test")
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                          check=True).stdout.strip()
    path = REPO / "build" / f"sbx_{sbx_version()}_{arch}.deb"
    assert path.is_file(), f"{path} missing: run make deb (make test does)"
    return path


def deb_files(deb):
    out = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True, check=True).stdout
    files = {}
    for line in out.splitlines():
        f = line.split()
        # mode owner size date time path
        files[f[5].removeprefix("./").rstrip("/")] = (f[0], f[1])
    return files


def test_deb_lists_debian_layout(deb):
    files = deb_files(deb)
    missing = [p for p in EXPECTED if p not in files]
    assert not missing, f"not in {deb.name}: {missing}"
    assert files["usr/bin/sbx"][0] == "-rwxr-xr-x"
    assert files["usr/lib/sbx/sbx-full"][0] == "-rwxr-xr-x"
    assert files["usr/lib/sbx/sbx-guest"][0] == "-rwxr-xr-x"
    assert files["usr/lib/sbx/libsbx-keyring.so"][0] == "-rw-r--r--"
    assert all(owner == "root/root" for _, owner in files.values()), "built without --root-owner-group?"
    # one man page per command, all compressed
    pages = [p for p in files if p.startswith("usr/share/man/man1/") and p != "usr/share/man/man1"]
    assert len(pages) > 10 and all(p.endswith(".1.gz") for p in pages), pages
    # nothing outside /usr (no /usr/local, no build paths)
    assert all(p == "" or p.startswith("usr") for p in files), sorted(files)


def test_deb_control(deb):
    def field(name):
        return subprocess.run(["dpkg-deb", "-f", str(deb), name], capture_output=True, text=True,
                              check=True).stdout.strip()

    assert field("Package") == "sbx"
    assert field("Version") == sbx_version()
    depends = [d.strip().split()[0] for d in field("Depends").split(",")]
    for d in RUNTIME_DEPENDS + LIB_DEPENDS:
        assert d in depends, f"{d} not in Depends: {depends}"
    # the README's install line names this version's file
    assert f"sudo apt install ./build/{deb.name}" in (REPO / "README.md").read_text()


def test_make_install_same_layout(deb, tmp_path):
    """make install PREFIX=/usr lays out what the package ships (less its own docs)."""
    r = subprocess.run(["make", "-s", "--no-print-directory", "install", f"DESTDIR={tmp_path}", "PREFIX=/usr"],
                       cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    installed = {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if not p.is_dir()}
    packaged = {p for p, (mode, _) in deb_files(deb).items()
                if not mode.startswith("d") and not p.startswith(("usr/share/doc/", "usr/share/lintian/"))}
    assert installed == packaged


def test_deb_lintian_clean(deb):
    r = subprocess.run(["lintian", "--fail-on", "error,warning", "--display-info", str(deb)],
                       capture_output=True, text=True, timeout=600)
    errors = [line for line in r.stdout.splitlines() if line.startswith(("E:", "W:"))]
    assert not errors, r.stdout
    assert r.returncode == 0, r.stdout + r.stderr


def mounts_under(d):
    """Mount points at or below d (deepest first), from /proc/self/mountinfo."""
    prefix = str(d).rstrip("/") + "/"
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].encode().decode("unicode_escape")
            if mp.startswith(prefix) or mp == str(d):
                found.append(mp)
    return sorted(found, key=len, reverse=True)


def remove_tree(d):
    """Unmount what a failed mmdebstrap left mounted below d, then remove d; never
    removes through a mount point (a bound /dev or /sys)."""
    for mp in mounts_under(d):
        subprocess.run(["umount", "-l", mp], capture_output=True)
    left = mounts_under(d)
    if left:
        pytest.fail(f"still mounted, {d} not removed: {left}")
    subprocess.run(["rm", "-rf", "--one-file-system", str(d)], check=True)


def hook(cmd, out, name):
    """A customize hook that runs cmd in the new root, with output and status in out/."""
    o = shlex.quote(str(out / name))
    return f'chroot "$1" env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin {cmd} >{o}.out 2>&1; echo $? >{o}.rc'


def run_mmdebstrap(args, tmp, timeout):
    env = dict(os.environ, TMPDIR=str(tmp))
    p = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         start_new_session=True)
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        # mmdebstrap cleans up on SIGTERM; what it leaves, remove_tree handles
        os.killpg(p.pid, signal.SIGTERM)
        try:
            out, _ = p.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            out, _ = p.communicate()
        pytest.fail(f"mmdebstrap did not finish in {timeout} s:\n{out[-4000:]}")
    return p.returncode, out


def test_deb_installs_and_runs(deb):
    suite = None
    with open("/etc/os-release") as f:
        for line in f:
            if line.startswith("VERSION_CODENAME="):
                suite = line.split("=", 1)[1].strip().strip('"')
    assert suite, "no VERSION_CODENAME in /etc/os-release"
    tmp = Path(tempfile.mkdtemp(prefix="sbx-deb-", dir="/tmp"))
    try:
        out = tmp / "out"
        out.mkdir()
        # in unshare mode the hooks write as the namespace's root, a subordinate uid
        out.chmod(0o777)
        pkg = tmp / deb.name
        pkg.write_bytes(deb.read_bytes())
        tmp.chmod(0o755)
        root = os.getuid() == 0
        args = ["mmdebstrap", "--variant=apt", "--mode=" + ("root" if root else "unshare"),
                "--include=" + str(pkg), "--dpkgopt=force-unsafe-io",
                "--hook-dir=/usr/share/mmdebstrap/hooks/file-mirror-automount"]
        if root:
            # the host's apt cache: apt downloads only what it lacks (hard links, no copies)
            args.append('--setup-hook=mkdir -p "$1"/var/cache/apt/archives && find /var/cache/apt/archives '
                        '-maxdepth 1 -name "*.deb" -exec cp -l -t "$1"/var/cache/apt/archives {} + || true')
        for name, cmd in [("version", "sbx version"), ("diagnose", "sbx diagnose"),
                          ("templates", "sbx template ls"), ("policy", "sbx policy init balanced"),
                          ("status", "dpkg-query -W -f='${Status}/${Version}' sbx")]:
            args.append("--customize-hook=" + hook(cmd, out, name))
        args += [suite, "/dev/null"]
        if os.environ.get("SBX_TEST_DEB_MIRROR"):
            args.append(os.environ["SBX_TEST_DEB_MIRROR"])
        rc, log = run_mmdebstrap(args, tmp, MMDEBSTRAP_TIMEOUT)
        assert rc == 0, f"mmdebstrap failed ({rc}):\n{log[-4000:]}"

        def result(name):
            return int((out / f"{name}.rc").read_text()), (out / f"{name}.out").read_text()

        version = sbx_version()
        assert result("status") == (0, f"install ok installed/{version}")
        # its first line; the next ones name the templates' versions (none built there)
        rc, text = result("version")
        assert rc == 0 and text.splitlines()[0] == f"sbx {version}", text
        rc, text = result("diagnose")
        # its checks ran; a chroot has no templates (and no user namespaces), so it fails
        assert rc in (0, 1), text
        for check in ("accel", "userns", "qemu", "qemu-img", "virtiofsd", "sbx-guest", "kernel", "template",
                      "daemon"):
            assert re.search(rf"^{re.escape(check)} +(ok|FAIL|warn)", text, re.M), f"no {check} check:\n{text}"
        for dep in ("qemu", "qemu-img", "virtiofsd"):
            assert re.search(rf"^{dep} +ok ", text, re.M), f"{dep} not installed by Depends:\n{text}"
        # the installed binary finds its guest under /usr/lib/sbx
        m = re.search(r"^sbx-guest +ok +(\S+)$", text, re.M)
        assert m and os.path.normpath(m.group(1)) == "/usr/lib/sbx/sbx-guest", text
        # ... and its recipes under /usr/share/sbx
        rc, text = result("templates")
        assert rc == 0 and re.search(r"^minimal +missing", text, re.M) and re.search(r"^agents +missing", text, re.M), \
            text
        rc, text = result("policy")
        assert rc == 0, text
    finally:
        remove_tree(tmp)
