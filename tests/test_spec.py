"""The YAML schema: every error named with its path and line, env interpolation, references."""

import pytest

from concilium.errors import SpecError
from concilium.spec import parse_spec
from tests.conftest import keeper_yaml


def errors_of(text: str) -> list[str]:
    with pytest.raises(SpecError) as e:
        parse_spec(text)
    return e.value.problems


def test_valid_keeper_parses_amounts_to_wei():
    spec = parse_spec(keeper_yaml())
    p = spec.agents[0].policy
    assert p.max_value_per_tx == 2 * 10**18
    assert p.max_gas_price == 50 * 10**9
    assert spec.agents[0].observe[0].kind == "balance"


def test_bad_amount_is_reported_with_path_and_line():
    text = keeper_yaml().replace("max_value_per_tx: 2 ether", "max_value_per_tx: two ether")
    line = next(i for i, l in enumerate(text.splitlines(), 1) if "two ether" in l)
    [problem] = errors_of(text)
    assert problem.startswith(f"agents[0].policy.max_value_per_tx (line {line}): expected an amount like \"0.5 ether\"")


def test_every_error_is_listed_not_just_the_first():
    text = keeper_yaml().replace("max_value_per_tx: 2 ether", "max_value_per_tx: lots").replace(
        "tools: [send_native, erc20_transfer]", "tools: [send_native, teleport]").replace('"0x90F79bf6EB2c4f870365E785982E1f101E93b906"', '"0x90F7"')
    problems = errors_of(text)
    paths = sorted(p.split(" ")[0] for p in problems)
    assert paths == ["addresses.cold_storage", "agents[0].policy.max_value_per_tx", "agents[0].tools[1]"]


def test_unknown_key_is_named():
    [problem] = errors_of(keeper_yaml().replace("max_value_per_day:", "max_value_per_dya:"))
    assert problem.startswith("agents[0].policy.max_value_per_dya (line")
    assert "unknown key" in problem


def test_unknown_reference_lists_what_is_defined():
    [problem] = errors_of(keeper_yaml().replace("recipients: [hot_wallet]", "recipients: [hot_walet]"))
    assert "agents[0].policy.recipients[0]" in problem
    assert "unknown address 'hot_walet'" in problem and "hot_wallet" in problem


def test_env_interpolation_and_missing_variable(monkeypatch):
    text = keeper_yaml(token="${TEST_TOKEN_ADDR}")
    monkeypatch.delenv("TEST_TOKEN_ADDR", raising=False)
    [problem] = errors_of(text)
    assert "contracts.usdc.address" in problem and "TEST_TOKEN_ADDR is not set" in problem
    monkeypatch.setenv("TEST_TOKEN_ADDR", "0x90F79bf6EB2c4f870365E785982E1f101E93b906")
    assert parse_spec(text).contracts["usdc"].address == "0x90F79bf6EB2c4f870365E785982E1f101E93b906"
    assert parse_spec(keeper_yaml(token="${TEST_UNSET_X:-0x90F79bf6EB2c4f870365E785982E1f101E93b906}"))


def test_dev_account_refused_on_a_real_chain():
    text = keeper_yaml().replace("dev: {rpc: embedded}", 'dev: {rpc: "https://rpc.example", chain_id: 1}')
    problems = errors_of(text)
    assert any("dev account" in p and "agents[0].wallet" in p for p in problems)


def test_send_tools_need_limits():
    text = keeper_yaml().replace("max_value_per_tx: 2 ether", "")
    assert any("max_value_per_tx" in p for p in errors_of(text))


@pytest.mark.parametrize("bad,expected", [
    ("version: 2\n", "expected `version: 1`"),
    ("- just\n- a list\n", "expected a mapping"),
    ("version: 1\nagents: [\n", "not valid YAML"),
])
def test_malformed_documents(bad, expected):
    [problem] = errors_of(bad)
    assert expected in problem


def test_schedule_needs_exactly_one_trigger():
    text = keeper_yaml(extra_agent="").replace("    tools:", "    schedule: {every: 30s, cron: '* * * * *'}\n    tools:")
    [problem] = errors_of(text)
    assert problem.startswith("agents[0].schedule") and "exactly one" in problem


def test_bad_cron_is_named():
    text = keeper_yaml().replace("    tools:", "    schedule: {cron: '*/5 * *'}\n    tools:")
    [problem] = errors_of(text)
    assert problem.startswith("agents[0].schedule.cron") and "five-field cron" in problem


def test_old_limit_keys_fold_into_limits():
    p = parse_spec(keeper_yaml()).agents[0].policy
    assert p.limits["ETH"].per_tx == 2 and p.limits["ETH"].per_day == 10
    assert p.limits["usdc"].per_tx == 100 and p.limits["usdc"].per_day == 150


def test_limits_given_twice_or_simulation_off_are_clear_errors():
    both = keeper_yaml().replace("max_gas_price: 50 gwei", "max_gas_price: 50 gwei\n      limits: {ETH: {per_tx: 1}}")
    assert any("give ETH limits once" in p for p in errors_of(both))
    off = keeper_yaml().replace("max_gas_price: 50 gwei", "max_gas_price: 50 gwei\n      simulate: false")
    assert any("simulate: false is no longer possible" in p for p in errors_of(off))


def test_policy_names_must_exist():
    text = keeper_yaml().replace("max_gas_price: 50 gwei", "max_gas_price: 50 gwei\n      spenders: {router: {usdc: 5}}\n      limits: {weth: {per_tx: 1}}")
    problems = errors_of(text)
    assert any(p.startswith("agents[0].policy.spenders.router") and "unknown address 'router'" in p for p in problems)
    assert any(p.startswith("agents[0].policy.limits.weth") and "unknown contract 'weth'" in p for p in problems)


def test_unknown_observation_names_the_registered_kinds():
    text = keeper_yaml(observe="\n- teleport: hot_wallet\n")
    [problem] = errors_of(text)
    assert problem.startswith("agents[0].observe[0]")


def test_a_model_family_is_a_short_name():
    """It opens every model id of that model (oracle requests can require several families)."""
    ok = parse_spec(keeper_yaml().replace("local: {serve: bundled}", "local: {serve: bundled, family: qwen2.5}"))
    assert ok.models["local"].family == "qwen2.5"
    [problem] = errors_of(keeper_yaml().replace("local: {serve: bundled}", 'local: {serve: bundled, family: "qwen 2.5"}'))
    assert problem.startswith("models.local.family (line") and "short name such as qwen2.5" in problem
