// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IAgentOracle, IAgentOracleConsumer} from "./IAgentOracle.sol";

/// @notice Inherit this, call `_requestOracle`, and implement `_onOracleResult`.
abstract contract AgentOracleConsumer is IAgentOracleConsumer {
    IAgentOracle public immutable oracle;

    error OnlyOracle(address caller);

    constructor(address oracle_) {
        oracle = IAgentOracle(oracle_);
    }

    function onOracleResult(uint256 requestId, bytes calldata result) external {
        if (msg.sender != address(oracle)) revert OnlyOracle(msg.sender);
        _onOracleResult(requestId, result);
    }

    function _requestOracle(
        string memory prompt,
        IAgentOracle.Kind kind,
        bytes memory options,
        uint32 callbackGasLimit,
        uint256 fee
    ) internal returns (uint256) {
        return oracle.request{value: fee}(prompt, kind, options, callbackGasLimit);
    }

    function _onOracleResult(uint256 requestId, bytes calldata result) internal virtual;

    /// Refunds of cancelled requests arrive here.
    receive() external payable virtual {}
}
