"""The contracts from a user's own Foundry project, installed as the README says (the layout
`forge install` makes: this repository under lib/concilium, remapped `concilium/` to its
contracts/src): an outside consumer compiles with forge, in a temp project."""

import subprocess
import textwrap

from tests.conftest import ROOT

FORGE = ROOT / "node_modules" / ".bin" / "forge"

CONSUMER = """\
// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AgentOracleConsumer} from "concilium/AgentOracleConsumer.sol";
import {IAgentOracle} from "concilium/IAgentOracle.sol";

contract WillItRain is AgentOracleConsumer {
    uint256 public requestId;
    bool public answer;

    constructor(address oracle_) AgentOracleConsumer(oracle_) {}

    function ask() external payable {
        requestId = _requestOracle("Will it rain in Paris tomorrow?", IAgentOracle.Kind.Bool, "", 100_000, msg.value);
    }

    function _onOracleResult(uint256, bytes calldata result) internal override {
        answer = abi.decode(result, (bool));
    }
}
"""


def test_an_outside_foundry_project_compiles_a_consumer_with_the_documented_remapping(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "concilium").symlink_to(ROOT)  # what `forge install <org>/concilium` checks out
    (tmp_path / "src" / "WillItRain.sol").write_text(CONSUMER)
    (tmp_path / "remappings.txt").write_text("concilium/=lib/concilium/contracts/src/\n")
    (tmp_path / "foundry.toml").write_text(textwrap.dedent(f"""\
        [profile.default]
        src = "src"
        out = "out"
        libs = ["lib"]
        offline = true
        solc = "{ROOT / 'scripts' / 'solc-shim'}"
        evm_version = "cancun"
        """))
    r = subprocess.run([str(FORGE), "build"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert (tmp_path / "out" / "WillItRain.sol" / "WillItRain.json").exists()
