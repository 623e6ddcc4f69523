# SPDX-License-Identifier: MIT
# tests/proxy/fakeguest.py: a hostile guest without a VM. It plays QEMU for a real sbxd
# (`sbx daemon run`): a sandbox whose recorded "qemu" pid is a process we started and
# whose channel socket (run/vms/NAME/ctl.sock) we serve, so sbxd re-adopts it at
# start-up, and then speaks the channel protocol (docs/channel.md) on it directly.
#
# Run as a script it is that process:  fakeguest.py SOCK MODE [ARGS...]
#   idle                         handshake, then answer nothing but keep reading
#   ping-flood                   handshake, then PINGs without reading a byte
#   reset-loop HOST:PORT N       N times OPEN(proxy) + CONNECT + RESET, then idle
# It prints "ready" once the host configured it, "done" when its mode finished. With
# FAKEGUEST_WAIT set it waits for a line on stdin between the two.
import os
import select
import socket
import struct
import sys
import time

OPEN, DATA, WINDOW, CLOSE, RESET, PING, HELLO, CTRL = range(1, 9)
F_ACK = 1
MAGIC = b"SBXMUX01"
HELLO_VERSION = 1
CTRL_OP = 1
OP_CONFIG, OP_READY = 1, 3
OPEN_KIND = 1
PROTO_VERSION = 1


def tlv(tag, value):
    if isinstance(value, int):
        value = struct.pack("<I", value)
    elif isinstance(value, str):
        value = value.encode()
    return struct.pack("<HI", tag, len(value)) + value


def frame(ftype, stream=0, payload=b"", flags=0):
    return struct.pack("<IHHI", len(payload), ftype, flags, stream) + payload


def tlv_items(buf):
    out, off = {}, 0
    while off + 6 <= len(buf):
        tag, n = struct.unpack_from("<HI", buf, off)
        out.setdefault(tag, buf[off + 6:off + 6 + n])
        off += 6 + n
    return out


class Chan:
    """The guest end of one channel connection (blocking socket, buffered frames)."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()
        self.off = 0   # parsed up to here; compacted now and then (no quadratic copies)
        self.next_id = 2

    def send(self, data):
        self.sock.sendall(data)

    def recv_frame(self, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            if len(self.buf) - self.off >= 12:
                n, t, fl, sid = struct.unpack_from("<IHHI", self.buf, self.off)
                if len(self.buf) - self.off >= 12 + n:
                    pl = bytes(self.buf[self.off + 12:self.off + 12 + n])
                    self.off += 12 + n
                    if self.off > (1 << 20):
                        del self.buf[:self.off]
                        self.off = 0
                    return t, fl, sid, pl
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no frame from the host")
            self.sock.settimeout(left)
            d = self.sock.recv(1 << 20)
            if not d:
                raise EOFError("host closed the channel")
            self.buf += d

    def handshake(self):
        """Wait for the host's HELLO, answer it, then OP_CONFIG -> OP_READY."""
        while True:
            t, _, _, pl = self.recv_frame(30)
            if t == HELLO:
                break
        self.send(frame(HELLO, 0, MAGIC + tlv(HELLO_VERSION, PROTO_VERSION)))
        while True:
            t, _, sid, pl = self.recv_frame(30)
            if t == CTRL and sid == 0 and struct.unpack("<I", tlv_items(pl).get(CTRL_OP, b"\0\0\0\0"))[0] == OP_CONFIG:
                break
        self.send(frame(CTRL, 0, tlv(CTRL_OP, OP_READY)))

    def open_frame(self, kind="proxy"):
        sid = self.next_id
        self.next_id += 2
        return sid, frame(OPEN, sid, tlv(OPEN_KIND, kind))

    def open_proxy(self):
        sid, f = self.open_frame()
        self.send(f)
        return sid

    def wait_data(self, sid, want, timeout=10):
        """Frames for sid until `want` appears in its DATA; other streams' frames dropped.
        Returns the DATA bytes, or None when the host reset the stream."""
        got = b""
        deadline = time.monotonic() + timeout
        while want not in got:
            t, _, s, pl = self.recv_frame(max(0.01, deadline - time.monotonic()))
            if s != sid:
                continue
            if t == DATA:
                got += pl
            elif t == RESET:
                return None
        return got


def listen(path):
    ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ls.bind(path)
    ls.listen(1)
    return ls


def accept(ls, timeout=60):
    """Accept sbxd on a listen() socket and do the handshake. Returns the Chan."""
    ls.settimeout(timeout)
    conn, _ = ls.accept()
    ls.close()
    ch = Chan(conn)
    ch.handshake()
    return ch


def idle(ch):
    ch.sock.settimeout(None)
    while ch.sock.recv(1 << 20):
        pass


def ping_flood(ch):
    """PINGs, never reading: sbxd must not queue their answers without bound."""
    burst = frame(PING, 0, b"p" * 64) * 4096
    ch.sock.setblocking(False)
    print("flooding", flush=True)
    off = 0
    while True:
        try:
            off = (off + ch.sock.send(burst[off:] if off else burst)) % len(burst)
        except BlockingIOError:
            select.select([], [ch.sock], [], 1.0)
        except OSError:
            return


def reset_loop(ch, target, n):
    """OPEN + CONNECT + RESET, n times, as fast as the socket takes them."""
    req = f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode()
    batch = []
    for _ in range(n):
        sid, f = ch.open_frame()
        batch.append(f + frame(DATA, sid, req) + frame(RESET, sid))
        if len(batch) == 64:
            ch.send(b"".join(batch))
            batch = []
            ch.sock.setblocking(False)
            try:   # keep the host's answers from filling our receive buffer
                while ch.sock.recv(1 << 20):
                    pass
            except BlockingIOError:
                pass
            ch.sock.setblocking(True)
    ch.send(b"".join(batch))


def main():
    path, mode = sys.argv[1], sys.argv[2]
    ch = accept(listen(path))
    print("ready", flush=True)
    if os.environ.get("FAKEGUEST_WAIT"):
        sys.stdin.readline()   # "go"
    if mode == "ping-flood":
        ping_flood(ch)
    elif mode == "reset-loop":
        reset_loop(ch, sys.argv[3], int(sys.argv[4]))
        print("done", flush=True)
    idle(ch)


if __name__ == "__main__":
    try:
        main()
    except (EOFError, ConnectionError, BrokenPipeError):
        pass
    os._exit(0)
