"""The dashboard in a real headless Chromium: the page loads from the package (no CDN), shows a
step the test triggers through the API, renders hostile text as text, shows oracle rounds
with each node's answer and model, and needs no token; a screenshot is saved as an artifact."""

import asyncio

import httpx

from concilium.llm.decisions import Decision
from concilium.oracle.store import OracleStore, Round
from concilium.service.service import AgentService
from tests.browser import Chromium
from tests.conftest import ROOT, deploy_token
from tests.test_service import TOKEN, agent, api_token, follow_step, service_yaml  # noqa: F401 (fixture)

ARTIFACTS = ROOT / "test-artifacts"
XSS = '<img src=x onerror="document.title=\'pwned\'">'


async def test_dashboard_in_headless_chromium_shows_a_triggered_step(stack, vllm, chain, tmp_path, api_token):
    f = tmp_path / "agents.yaml"
    f.write_text(service_yaml(await deploy_token(chain), agent("keeper", "{every: 1h}") + agent("watcher", "{every: 1h}")))
    url = f"sqlite+aiosqlite:///{tmp_path / 'state.db'}"
    async with AgentService.open(f, stack=stack, state_dir=tmp_path, store_url=url) as svc:
        oracle = await OracleStore(url).init()  # a node writing its rounds into the same database
        await oracle.add(Round(key="o:7:n1", node="0xNode1", oracle="0xOracle", request_id=7, status="fulfilled", kind=0,
                               prompt="Is 2+2 equal to 4?", options="0x", deadline=0, fee_wei="0", model_id="0xabc123",
                               peer_answers='{"0xNode2": {"value": "0x01", "model_id": "0xdef456"}}', result="true"))
        await oracle.close()
        await svc.agents["watcher"].propose(Decision(action="noop", reason=XSS))  # hostile text in a record
        async with httpx.AsyncClient(base_url=svc.api_server.url, timeout=60) as http, Chromium() as browser:
            await browser.goto(f"{svc.api_server.url}/dashboard/")
            await browser.wait_for("document.querySelectorAll('#agents tbody tr').length === 2")
            assert await browser.eval("document.querySelector('#agents tbody').textContent.includes('every 3600 s')") is True
            started = await http.post("/agents/keeper/step", headers={"Authorization": f"Bearer {TOKEN}"})
            assert started.status_code == 202
            step = await follow_step(http, started)
            shown = await browser.wait_for(
                "[...document.querySelectorAll('#steps tbody tr')].map(r => r.textContent).find(t => t.includes('keeper') && t.includes('%s'))"
                % step["status"])
            assert step["status"] in shown
            assert await browser.eval("document.querySelector('#rounds tbody').textContent") == \
                "7fulfilledIs 2+2 equal to 4?0xNode2: 0x01 (model 0xdef456)true"
            steps_text = await browser.eval("document.querySelector('#steps tbody').textContent")
            assert XSS in steps_text  # shown literally, as text
            assert await browser.eval("document.title") == "Concilium"  # ... and never run
            assert await browser.eval("document.querySelectorAll('#steps img').length") == 0
            # read-only: the page needs no token, and a write from the page's origin without one is refused
            status = await browser.eval("fetch('/agents/keeper/pause', {method: 'POST'}).then(r => r.status)")
            assert status == 401 and svc.status["keeper"].paused is False
            assert not browser.console, browser.console
            page = await http.get("/dashboard/")
            assert "script-src 'self'" in page.headers["content-security-policy"] and "http" not in page.text.replace("http-equiv", "")
            await asyncio.sleep(0.3)
            shot = await browser.screenshot(ARTIFACTS / "dashboard.png")
    assert shot.stat().st_size > 10_000
