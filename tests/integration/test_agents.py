# SPDX-License-Identifier: MIT
# test_agents.py: the agents template: each agent CLI starts in its sandbox, on Node.js
# 22, as user agent; Claude Code's requests reach (a fake) api.anthropic.com through the
# proxy carrying the stored key while the VM only ever sees the sentinel.

import pytest

from conftest import Box, new_home
from test_credentials import _tls_server, upstream_ca

KEY = "sk-ant-agents-test-" + "0f1e2d3c4b5a69788796a5b4"


@pytest.fixture(scope="module")
def agents(tmp_path_factory):
    d = tmp_path_factory.mktemp("agca")
    upstream_ca(d)
    api = _tls_server(d, "api.anthropic.com")
    h = new_home("ag")
    h.ok("settings", "set", "proxy.upstreamCA", str(d / "ca.pem"))
    h.ok("settings", "set", "proxy.resolve", f"api.anthropic.com:443=127.0.0.1:{api.server_address[1]}")
    assert h.sbx("secret", "set", "-g", "anthropic", input=(KEY + "\n").encode()).rc == 0
    ws = h.workspace("agws")
    yield h, ws, api
    api.shutdown()
    h.close()


@pytest.mark.parametrize("agent,expect", [("claude", "Claude Code"), ("codex", "codex-cli"),
                                          ("gemini", "."), ("copilot", "Copilot CLI")])
def test_agent_cli_starts(agents, agent, expect):
    h, ws, _ = agents
    # a flag after -- is appended to the agent's default command
    r = h.sbx("run", agent, ws, "--", "--version", timeout=600)
    assert r.rc == 0 and expect in r.out, f"{r!r}\n{h.diag()}"


def test_runtime_and_user(agents):
    h, ws, _ = agents
    box = Box(h, "claude-agws", ws)
    r = box.ok("sh", "-c", "node --version; id -un; for c in claude codex gemini copilot; do command -v $c; done | wc -l")
    major, user, n = r.out.split()
    assert int(major.lstrip("v").split(".")[0]) >= 22 and user == "agent" and n == "4", r


def test_claude_request_carries_the_stored_key_not_the_sentinel(agents):
    h, ws, api = agents
    box = Box(h, "claude-agws", ws)
    assert box.ok("printenv", "ANTHROPIC_API_KEY").out.strip() == "proxy-managed"
    n = len(api.seen)
    # The fake upstream answers JSON Claude cannot use: it fails, but only after asking.
    box.exec("timeout", "120", "claude", "--dangerously-skip-permissions", "-p", "hello", timeout=300)
    seen = [s for s in api.seen[n:] if s.get("x-api-key")]
    assert seen, api.seen[n:]
    assert all(s["x-api-key"] == KEY for s in seen), seen
    log = (h.state_dir / "audit.log").read_text()
    assert "injected anthropic" in log and KEY not in log
