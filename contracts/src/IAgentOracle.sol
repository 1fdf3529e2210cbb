// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @notice What a consumer needs to know about the oracle.
interface IAgentOracle {
    /// Answer kinds. Results are ABI-encoded: Bool -> (bool), Choice -> (uint256 index into the
    /// labels given in `options` as abi.encode(string[])), Uint -> (uint256), Int -> (int256),
    /// Text -> (string) normalised (trimmed, lower-case, single spaces).
    enum Kind {
        Bool,
        Choice,
        Uint,
        Int,
        Text
    }

    function request(string calldata prompt, Kind kind, bytes calldata options, uint32 callbackGasLimit)
        external
        payable
        returns (uint256 requestId);

    function requestPinned(
        string calldata prompt,
        Kind kind,
        bytes calldata options,
        uint32 callbackGasLimit,
        bytes32 modelId,
        uint64 timeout
    ) external payable returns (uint256 requestId);

    function cancel(uint256 requestId) external;
}

/// @notice Implemented by consumers; called by the oracle with the agreed result.
interface IAgentOracleConsumer {
    function onOracleResult(uint256 requestId, bytes calldata result) external;
}
