# SPDX-License-Identifier: MIT
# tests/proxy/test_policy_scope.py: a policy file's sandbox-scoped rules, imported with
# `sbx policy import`, are honoured by a real sbxd per sandbox: two fake guests
# (fakeguest.py, no VM) ask for the same fake upstream, only the named sandbox gets it.
import fakeguest as fg
import pytest
from test_bounds import Daemon


@pytest.fixture
def daemon(sbx_bin):
    d = Daemon()
    yield d
    d.close()


def fetch(ch, host, port):
    sid = ch.open_proxy()
    ch.send(fg.frame(fg.DATA, sid, f"GET http://{host}:{port}/scoped HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()))
    got = ch.wait_data(sid, b"\r\n\r\n", timeout=20)
    return got.split(b" ", 2)[1] if got else None


def test_imported_sandbox_scope_reaches_upstream_from_that_sandbox_only(daemon, upstreams):
    a = upstreams["a"]
    daemon.bench.settings(proxy_resolve=f"a.test:{a}=127.0.0.1:{a},b.test:{upstreams['b']}=127.0.0.1:{upstreams['b']}")
    pf = daemon.home / "team.policy"
    pf.write_text("# the team's policy\nversion 1\npreset deny-all\n"
                  "allow b.test                 # every sandbox\n"
                  "allow a.test sandbox=alpha   # alpha only\n")
    r = daemon.cli("policy", "import", "-y", str(pf))
    assert r.returncode == 0, r
    assert b"+ allow a.test sandbox=alpha" in r.stdout, r.stdout
    daemon.sandbox("alpha")
    daemon.sandbox("beta")
    daemon.start()
    alpha = fg.accept(daemon.listeners["alpha"])
    beta = fg.accept(daemon.listeners["beta"])
    assert fetch(alpha, "a.test", a) == b"200", daemon.log()
    assert fetch(beta, "a.test", a) == b"403", daemon.log()
    # the global rule reaches both
    assert fetch(alpha, "b.test", upstreams["b"]) == b"200"
    assert fetch(beta, "b.test", upstreams["b"]) == b"200"
    # and the audit log names the scoped rule for alpha, the default for beta
    log = daemon.bench.audit()
    mine = [l for l in log if l.get("host") == "a.test"]
    assert any(l["sandbox"] == "alpha" and l["decision"] == "allow" for l in mine), mine
    assert any(l["sandbox"] == "beta" and l["decision"] == "deny" for l in mine), mine

    # a re-import without the scoped rule takes it away from alpha on the fly
    pf.write_text("preset deny-all\nallow b.test\n")
    r = daemon.cli("policy", "import", "-y", str(pf))
    assert r.returncode == 0 and b"- allow a.test sandbox=alpha" in r.stdout, r
    import time
    deadline = time.monotonic() + 10
    while fetch(alpha, "a.test", a) != b"403":
        assert time.monotonic() < deadline, "alpha still reaches a.test after the re-import"
        time.sleep(0.5)
