# SPDX-License-Identifier: MIT
# tests/proxy/rawup.py: a raw upstream on 127.0.0.1 for framing tests: records every byte
# each connection sent it and answers each request head with bytes chosen by the test.
import socket
import ssl
import threading
import time


class RawUpstream:
    """Accepts on 127.0.0.1; conns[i] is a bytearray of what connection i received.
    reply: bytes sent once `until` (default: the end of the first request head) arrived; the connection
    then stays open until the peer closes it (so EOF never ends a body for the engine)."""

    def __init__(self, reply=b"", tls_ctx=None, until=b"\r\n\r\n"):
        self.reply = reply
        self.until = until
        self.tls_ctx = tls_ctx
        self.conns = []
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1024)   # a burst must not overflow the accept queue (conftest.py)
        self.port = self.sock.getsockname()[1]
        self.stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stop:
            try:
                s, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(s,), daemon=True).start()

    def _serve(self, s):
        buf = bytearray()
        with self.lock:
            self.conns.append(buf)
        try:
            if self.tls_ctx:
                s = self.tls_ctx.wrap_socket(s, server_side=True)
            s.settimeout(15)
            sent = False
            while True:
                d = s.recv(65536)
                if not d:
                    break
                buf.extend(d)
                if not sent and self.until in buf and self.reply:
                    s.sendall(self.reply)
                    sent = True
        except (OSError, ssl.SSLError):
            pass
        finally:
            try:
                s.close()
            except OSError:
                pass

    def received(self):
        with self.lock:
            return b"".join(bytes(c) for c in self.conns)

    def close(self):
        self.stop = True
        self.sock.close()


def read_all(sock, timeout=4):
    """Everything the peer sends until it closes or resets, or timeout passes quietly."""
    sock.settimeout(timeout)
    got = b""
    end = time.time() + timeout
    try:
        while time.time() < end:
            d = sock.recv(65536)
            if not d:
                break
            got += d
    except (socket.timeout, ConnectionResetError, BrokenPipeError, ssl.SSLError, OSError):
        pass
    return got
