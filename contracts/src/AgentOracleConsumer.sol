// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IAgentOracle, IAgentOracleConsumer} from "./IAgentOracle.sol";

/// @notice Inherit this, call `_requestOracle`, and implement `_onOracleResult` (and, to hear
/// about questions the nodes could not answer, `_onOracleUnanswered`). Refunds of cancelled or
/// unanswerable requests are credited to this contract by the oracle: `_withdrawOracleRefund`.
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

    function onOracleUnanswered(uint256 requestId, uint8 reason) external {
        if (msg.sender != address(oracle)) revert OnlyOracle(msg.sender);
        _onOracleUnanswered(requestId, reason);
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

    /// Pin a model (zero: any) and choose a timeout (zero: the oracle's default); see `_requestAcross` for families.
    function _requestOracle(
        string memory prompt,
        IAgentOracle.Kind kind,
        bytes memory options,
        uint32 callbackGasLimit,
        uint256 fee,
        bytes32 modelId,
        uint64 timeout
    ) internal returns (uint256) {
        return oracle.requestPinned{value: fee}(prompt, kind, options, callbackGasLimit, modelId, timeout, 0, 0);
    }

    /// Require that the nodes agreeing on the result run at least `minFamilies` model families
    /// (any model within them); the fee must cover `estimateFee` at `maxGasPrice` (zero: this
    /// transaction's gas price).
    function _requestAcross(
        string memory prompt,
        IAgentOracle.Kind kind,
        bytes memory options,
        uint32 callbackGasLimit,
        uint256 fee,
        uint8 minFamilies,
        uint64 maxGasPrice
    ) internal returns (uint256) {
        return oracle.requestPinned{value: fee}(prompt, kind, options, callbackGasLimit, bytes32(0), 0, maxGasPrice, minFamilies);
    }

    function _onOracleResult(uint256 requestId, bytes calldata result) internal virtual;

    function _onOracleUnanswered(uint256 requestId, uint8 reason) internal virtual {}

    /// Pull this contract's refunds (and credits) from the oracle to `to`.
    function _withdrawOracleRefund(address to) internal {
        oracle.withdraw(to);
    }

    /// Withdrawn refunds arrive here.
    receive() external payable virtual {}
}
