# SPDX-License-Identifier: MIT
# test_docker.py: each sandbox of the agents template runs its own dockerd inside the
# VM, started on the first connection to its socket; the agent uses it without sudo;
# containers run (from an image made offline in the guest), and their network traffic
# leaves only through sbx's proxy and policy.
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
    # the first client starts dockerd (src/guest/dockerd.c) and waits for it
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


# --- dockerd on demand (src/guest/dockerd.c) ---------------------------------------

SOCK = "root:docker 660 socket"
# dockerd and containerd processes, then the socket's owner, mode and type
STATE = ("ps -eo comm= | grep -cxE 'dockerd|containerd'; "
         "stat -c '%U:%G %a %F' /var/run/docker.sock 2>/dev/null || echo none")


def docker_state(box):
    """(number of dockerd and containerd processes, the socket's "owner:group mode type")."""
    count, sock = box.ok("sh", "-c", STATE, opts=["-u", "root"]).out.strip().split("\n")
    return int(count), sock


def dockerd_log(box):
    return box.ok("cat", "/var/log/sbx-dockerd.log", opts=["-u", "root"]).out


@pytest.fixture(scope="module")
def lazy():
    """Two sandboxes of the agents template in which nothing has used Docker yet."""
    h = new_home("lz", policy="deny-all")
    boxes = []
    for name in ("lz1", "lz2"):
        ws = h.workspace(f"{name}ws")
        h.ok("run", "-d", "--name", name, "claude", ws, timeout=600)
        boxes.append(Box(h, name, ws))
    yield boxes
    h.close()


def test_idle_sandbox_runs_no_dockerd_until_a_client_connects(lazy):
    a, b = lazy
    for box in lazy:
        assert docker_state(box) == (0, SOCK), box.name
    # the agent's first docker command starts it and is served once it is up
    r = a.ok("docker", "version", "--format", "{{.Server.Version}}", timeout=300)
    assert r.out.strip() and "sudo" not in r.err, r
    assert docker_state(a) == (2, SOCK)
    assert docker_state(b) == (0, SOCK)   # the other sandbox does not notice
    assert "started dockerd -H fd://" in dockerd_log(a)
    # socket activation, and the proxy variables image pulls need, as before
    env = a.ok("sh", "-c", "tr '\\0' '\\n' < /proc/$(cat /var/run/docker.pid)/environ",
               opts=["-u", "root"]).out.split("\n")
    assert "LISTEN_FDS=1" in env and any(v.startswith("HTTPS_PROXY=http://127.0.0.1:") for v in env), env


def test_killed_dockerd_starts_again_on_the_next_connection(lazy):
    a = lazy[0]
    a.ok("docker", "info", "--format", "{{.ServerVersion}}", timeout=300)
    a.ok("sh", "-c", "kill $(cat /var/run/docker.pid); for i in $(seq 60); do "
         "pgrep -x dockerd >/dev/null || exit 0; sleep 1; done; exit 1", opts=["-u", "root"], timeout=120)
    assert docker_state(a)[1] == SOCK
    assert "is watched again" in dockerd_log(a)
    r = a.ok("docker", "info", "--format", "{{.Name}}", timeout=300)
    assert r.out.strip() == a.name, r


def test_stop_and_start_arm_the_socket_again(lazy):
    a = lazy[0]
    a.home.ok("stop", a.name, timeout=120)
    a.ok("true", timeout=300)   # exec starts a stopped sandbox
    assert docker_state(a) == (0, SOCK)
    r = a.ok("docker", "version", "--format", "{{.Server.Version}}", timeout=300)
    assert r.out.strip(), r


def test_dockerd_that_keeps_failing_is_given_up(lazy):
    """A dockerd that cannot start is started again for the waiting client only a few
    times; then the socket goes away and the client gets an error, not a hang."""
    b = lazy[1]
    b.ok("sh", "-c", "mkdir -p /etc/docker && echo '{broken' > /etc/docker/daemon.json", opts=["-u", "root"])
    try:
        r = b.exec("docker", "version", "--format", "{{.Server.Version}}", timeout=300)
        assert r.rc != 0, r
        assert docker_state(b) == (0, "none")
        log = dockerd_log(b)
        assert log.count("started dockerd -H fd://") == 3 and "giving up" in log, log
        r = b.exec("docker", "version", timeout=60)   # at once, no dockerd started
        assert r.rc != 0 and "Cannot connect to the Docker daemon" in r.err, r
        assert dockerd_log(b).count("started dockerd -H fd://") == 3
    finally:
        b.ok("rm", "-f", "/etc/docker/daemon.json", opts=["-u", "root"])
    b.home.ok("stop", b.name, timeout=120)
    b.ok("true", timeout=300)
    assert docker_state(b) == (0, SOCK)
