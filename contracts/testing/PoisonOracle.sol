// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AgentOracle} from "../src/AgentOracle.sol";

/// @notice AgentOracle plus one test-only door: emit a `Requested` event with any fields, as a
/// buggy or hostile deployment (or a future contract version) could put in front of the nodes.
/// Tests use it to prove that no single event can stop a node, whatever the onchain bounds.
contract PoisonOracle is AgentOracle {
    constructor(address[] memory nodes_, Params memory params_, uint256 stake_, uint64 unbonding_)
        AgentOracle(nodes_, params_, stake_, unbonding_)
    {}

    function emitRequested(uint256 id, bytes calldata prompt, Kind kind, bytes calldata options, uint64 deadline)
        external
    {
        Request memory r = Request({
            consumer: msg.sender,
            deadline: deadline,
            callbackGasLimit: 0,
            fee: 0,
            epoch: 1,
            kind: kind,
            status: Status.Pending,
            quorum: 3,
            f: 1,
            labels: 0,
            pinned: false,
            maxGasPrice: 0,
            commitment: keccak256(prompt),
            modelId: bytes32(0)
        });
        emit Requested(id, msg.sender, r, string(prompt), options);
    }

    /// Any log at all from this address: a known topic with data that does not decode.
    function emitRaw(bytes32 topic0, bytes32 topic1, bytes32 topic2, bytes calldata data) external {
        bytes memory d = data;
        assembly {
            log3(add(d, 32), mload(d), topic0, topic1, topic2)
        }
    }
}
