// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Test} from "./Test.sol";
import {AgentOracle} from "../../src/AgentOracle.sol";
import {IAgentOracle} from "../../src/IAgentOracle.sol";
import {ProbeConsumer} from "../../testing/ProbeConsumer.sol";

/// An AgentOracle with n node keys, a probe consumer, and helpers that sign as the nodes do.
abstract contract OracleFixture is Test {
    AgentOracle oracle;
    ProbeConsumer consumer;
    uint256[] keys;
    bytes32 constant MODEL = keccak256("smollm2-135m|vllm 0.32|t=0,seed=0");
    uint256 constant FEE = 0.03 ether;
    uint256 constant STAKE = 1 ether;
    uint64 constant UNBONDING = 30 days;
    mapping(uint256 => bytes32) modelOf; // a key's model id when not MODEL

    function params() internal pure returns (IAgentOracle.Params memory) {
        return IAgentOracle.Params({
            delay: 1 days,
            minTimeout: 60,
            maxTimeout: 1 days,
            defaultTimeout: 1 hours,
            maxPromptBytes: 32_768,
            maxOptionsBytes: 4_096,
            maxCallbackGas: 2_000_000,
            fulfilGas: 60_000,
            gasPerNode: 30_000,
            premium: 1e12
        });
    }

    function deployWith(uint256 n) internal {
        delete keys;
        address[] memory nodes = new address[](n);
        for (uint256 i; i < n; ++i) {
            keys.push(0xA11CE + i);
            nodes[i] = vm.addr(keys[i]);
        }
        oracle = new AgentOracle(nodes, params(), STAKE, UNBONDING);
        consumer = new ProbeConsumer(address(oracle));
        vm.deal(address(this), 1000 ether);
        for (uint256 i; i < n; ++i) stakeAs(oracle, keys[i]);
    }

    function stakeAs(AgentOracle o, uint256 key) internal {
        address node = vm.addr(key);
        uint256 amount = o.stakeAmount();
        vm.deal(node, node.balance + amount);
        vm.prank(node);
        o.stake{value: amount}();
    }

    function saltOf(uint256 key, bytes32 c) internal pure returns (bytes32) {
        return keccak256(abi.encode("salt", key, c));
    }

    receive() external payable {}

    function ask(IAgentOracle.Kind kind) internal returns (uint256) {
        return consumer.ask{value: FEE}("Is 7 a prime number?", kind, "", 200_000);
    }

    function commitment(uint256 id) internal view returns (bytes32) {
        return oracle.requests(id).commitment;
    }

    /// A node's report entry: its signed seal over `value` and the reveal that opens it.
    function answer(AgentOracle o, uint256 key, bytes32 c, bytes memory value) internal view returns (IAgentOracle.Answer memory) {
        bytes32 salt = saltOf(key, c);
        bytes32 seal = keccak256(abi.encode(keccak256(value), salt, vm.addr(key), c));
        bytes32 model = modelOf[key] == bytes32(0) ? MODEL : modelOf[key];
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, o.commitDigest(c, seal, model));
        return IAgentOracle.Answer(seal, model, abi.encodePacked(r, s, v), value, salt);
    }

    function signedSeal(AgentOracle o, uint256 key, bytes32 c, bytes memory value) internal view returns (IAgentOracle.SignedCommit memory) {
        IAgentOracle.Answer memory a = answer(o, key, c, value);
        return IAgentOracle.SignedCommit(c, a.seal, a.modelId, a.signature);
    }

    function verdict(uint256 key, bytes32 c, uint8 reason) internal view returns (IAgentOracle.Verdict memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, oracle.verdictDigest(c, reason, MODEL));
        return IAgentOracle.Verdict(reason, MODEL, abi.encodePacked(r, s, v));
    }

    /// Signed answers from the given key indexes, sorted by signer address as fulfill requires.
    function signed(uint256 id, uint256[] memory who, bytes[] memory values) internal view returns (IAgentOracle.Answer[] memory out) {
        bytes32 c = commitment(id);
        out = new IAgentOracle.Answer[](who.length);
        address[] memory addrs = new address[](who.length);
        for (uint256 i; i < who.length; ++i) {
            out[i] = answer(oracle, keys[who[i]], c, values[i]);
            addrs[i] = vm.addr(keys[who[i]]);
        }
        for (uint256 i = 1; i < out.length; ++i) {
            for (uint256 j = i; j > 0 && addrs[j - 1] > addrs[j]; --j) {
                (addrs[j - 1], addrs[j]) = (addrs[j], addrs[j - 1]);
                (out[j - 1], out[j]) = (out[j], out[j - 1]);
            }
        }
    }

    function verdicts(uint256 id, uint256[] memory who, uint8 reason) internal view returns (IAgentOracle.Verdict[] memory out) {
        bytes32 c = commitment(id);
        out = new IAgentOracle.Verdict[](who.length);
        address[] memory addrs = new address[](who.length);
        for (uint256 i; i < who.length; ++i) {
            out[i] = verdict(keys[who[i]], c, reason);
            addrs[i] = vm.addr(keys[who[i]]);
        }
        for (uint256 i = 1; i < out.length; ++i) {
            for (uint256 j = i; j > 0 && addrs[j - 1] > addrs[j]; --j) {
                (addrs[j - 1], addrs[j]) = (addrs[j], addrs[j - 1]);
                (out[j - 1], out[j]) = (out[j], out[j - 1]);
            }
        }
    }

    function same(uint256 n, bytes memory value) internal pure returns (bytes[] memory vs) {
        vs = new bytes[](n);
        for (uint256 i; i < n; ++i) vs[i] = value;
    }

    function idx(uint256 a, uint256 b, uint256 c) internal pure returns (uint256[] memory w) {
        w = new uint256[](3);
        (w[0], w[1], w[2]) = (a, b, c);
    }

    function range(uint256 n) internal pure returns (uint256[] memory w) {
        w = new uint256[](n);
        for (uint256 i; i < n; ++i) w[i] = i;
    }

    function status(uint256 id) internal view returns (IAgentOracle.Status) {
        return oracle.statusOf(id);
    }
}
