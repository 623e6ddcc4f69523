# SPDX-License-Identifier: MIT
# test_docker.py: each sandbox of the agents template runs its own dockerd inside the
# VM; the agent uses it without sudo; containers run (from an image made offline in the
# guest), and their network traffic leaves only through sbx's proxy and policy.
import pytest

from conftest import Box, new_home
from test_egress import BODY, _serve

# bash and the libraries it needs, from the VM's own root disk: an image without a pull
MAKE_IMAGE = ("cd /tmp && tar -C / -chf mini.tar bin/bash $(ldd /bin/bash | awk '/=>/ {print $3} "
              "/ld-linux/ {print $1}' | sed 's|^/||') && docker import mini.tar mini >/dev/null && echo made")

REQUEST = ("exec 3<>/dev/tcp/%s/80 && printf 'GET /from-container HTTP/1.1\\r\\nHost: %s\\r\\n"
           "Connection: close\\r\\n\\r\\n' >&3 && while IFS= read -r l <&3; do echo \"$l\"; done")


@pytest.fixture(scope="module")
def dk():
    srv = _serve()
    h = new_home("dk")
    h.ok("policy", "allow", "network", "fake.test")
    h.ok("settings", "set", "proxy.resolve", f"fake.test:80=127.0.0.1:{srv.server_address[1]}")
    ws = h.workspace("dkws")
    h.ok("run", "-d", "--name", "dk", "claude", ws, timeout=600)
    box = Box(h, "dk", ws)
    r = box.exec("sh", "-c", "for i in $(seq 60); do docker info >/dev/null 2>&1 && exit 0; sleep 1; done; "
                 "exit 1", timeout=120)
    assert r.rc == 0, f"dockerd did not come up\n{h.diag()}"
    yield box, srv
    srv.shutdown()
    h.close()


def test_agent_talks_to_the_vms_own_dockerd(dk):
    box, _ = dk
    r = box.ok("sh", "-c", "id -nG; docker info --format '{{.Name}} {{.ServerVersion}}'; "
               "test -z \"$DOCKER_HOST\" && echo no-docker-host")
    groups, name_ver, flag = r.out.strip().split("\n")
    assert "docker" in groups.split() and "sudo" not in r.err, r
    assert name_ver.split()[0] == "dk", r   # the daemon runs in the VM, named after it
    assert flag == "no-docker-host"


def test_container_runs_from_an_image_made_offline(dk):
    box, _ = dk
    assert box.ok("sh", "-c", MAKE_IMAGE, timeout=120).out.strip() == "made"
    r = box.ok("docker", "run", "--rm", "mini", "/bin/bash", "-c", "echo hello from a container; echo $$",
               timeout=120)
    assert r.out.split() == ["hello", "from", "a", "container", "1"], r


def test_container_traffic_goes_through_the_proxy_and_policy(dk):
    box, srv = dk
    box.ok("sh", "-c", "docker image inspect mini >/dev/null 2>&1 || (" + MAKE_IMAGE + ")", timeout=120)
    n = len(srv.seen)
    # bridge network: to an arbitrary address; the proxy takes the name from Host
    r = box.exec("docker", "run", "--rm", "mini", "/bin/bash", "-c", REQUEST % ("203.0.113.7", "fake.test"),
                 timeout=120)
    assert r.out.startswith("HTTP/1.") and " 200 " in r.out.split("\n")[0], r
    assert BODY.strip() in r.out, r
    assert [p for _, p, _ in srv.seen[n:]] == ["/from-container"]
    r = box.exec("docker", "run", "--rm", "mini", "/bin/bash", "-c", REQUEST % ("203.0.113.7", "denied.test"),
                 timeout=120)
    assert " 403 " in r.out.split("\n")[0], r
    assert len(srv.seen) == n + 1
    log = (box.home.state_dir / "audit.log").read_text()
    assert "denied.test" in log


def test_container_dns_goes_to_the_sandbox_stub(dk):
    """A container on Docker's default bridge asks the resolver Docker gave it; the
    question lands in the VM's stub, so allowed names resolve (to sbx's synthetic
    addresses) and the connection reaches the host side; other names do not."""
    box, srv = dk
    box.ok("sh", "-c", "docker image inspect mini >/dev/null 2>&1 || (" + MAKE_IMAGE + ")", timeout=120)
    n = len(srv.seen)
    r = box.exec("docker", "run", "--rm", "mini", "/bin/bash", "-c", REQUEST % ("fake.test", "fake.test"),
                 timeout=120)
    assert BODY.strip() in r.out, r
    assert [p for _, p, _ in srv.seen[n:]] == ["/from-container"]
    r = box.exec("docker", "run", "--rm", "mini", "/bin/bash", "-c", REQUEST % ("denied.test", "denied.test"),
                 timeout=120)
    assert r.rc != 0 and "hello" not in r.out, r
