// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AgentOracle} from "../src/AgentOracle.sol";

/// @notice AgentOracle plus one test-only door: emit any log (a `Requested` event with any fields,
/// or data that is no event at all), as a buggy or hostile deployment (or a future contract
/// version) could put in front of the nodes. Tests use it to prove that no single event can stop
/// a node, whatever the onchain bounds. (The tests encode the events: a door that built them
/// here would take AgentOracle past the 24,576-byte code limit.)
contract PoisonOracle is AgentOracle {
    constructor(address[] memory nodes_, Params memory params_, uint256 stake_, uint64 unbonding_)
        AgentOracle(nodes_, params_, stake_, unbonding_)
    {}

    /// Any log with three topics from this address.
    function emitRaw(bytes32 topic0, bytes32 topic1, bytes32 topic2, bytes calldata data) external {
        bytes memory d = data;
        assembly {
            log3(add(d, 32), mload(d), topic0, topic1, topic2)
        }
    }
}
