// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AgentOracleConsumer} from "../src/AgentOracleConsumer.sol";
import {IAgentOracle} from "../src/IAgentOracle.sol";

/// @notice A consumer for tests: records results, or misbehaves on purpose in its callback.
contract ProbeConsumer is AgentOracleConsumer {
    enum Mode {
        Record,
        Revert,
        BurnGas,
        ReturnBomb
    }

    Mode public mode;
    mapping(uint256 => bytes) public results;
    mapping(uint256 => uint8) public unanswered; // request -> reason
    uint256 public calls;

    constructor(address oracle_) AgentOracleConsumer(oracle_) {}

    function setMode(Mode m) external {
        mode = m;
    }

    function ask(string calldata prompt, IAgentOracle.Kind kind, bytes calldata options, uint32 gasLimit)
        external
        payable
        returns (uint256)
    {
        return _requestOracle(prompt, kind, options, gasLimit, msg.value);
    }

    function askPinned(string calldata prompt, IAgentOracle.Kind kind, bytes32 modelId, uint64 timeout)
        external
        payable
        returns (uint256)
    {
        return oracle.requestPinned{value: msg.value}(prompt, kind, "", 200_000, modelId, timeout, 0, 0);
    }

    function cancel(uint256 id) external {
        oracle.cancel(id);
    }

    function withdrawRefund(address to) external {
        _withdrawOracleRefund(to);
    }

    function _onOracleUnanswered(uint256 id, uint8 reason) internal override {
        unanswered[id] = reason;
    }

    function _onOracleResult(uint256 id, bytes calldata result) internal override {
        if (mode == Mode.Revert) revert("consumer says no");
        if (mode == Mode.BurnGas) {
            while (true) {
                calls++;
            }
        }
        if (mode == Mode.ReturnBomb) {
            assembly {
                return(0, 1000000)
            }
        }
        results[id] = result;
        calls++;
    }
}
