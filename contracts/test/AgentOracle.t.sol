// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Test} from "./utils/Test.sol";
import {AgentOracle} from "../src/AgentOracle.sol";
import {IAgentOracle} from "../src/IAgentOracle.sol";
import {ProbeConsumer} from "../testing/ProbeConsumer.sol";

contract AgentOracleTest is Test {
    AgentOracle oracle;
    ProbeConsumer consumer;
    uint256[] keys;
    bytes32 constant MODEL = keccak256("smollm2-135m|vllm 0.32|t=0,seed=0");
    uint256 constant FEE = 0.03 ether;

    function setUp() public {
        address[] memory nodes = new address[](4);
        for (uint256 i; i < 4; ++i) {
            keys.push(0xA11CE + i);
            nodes[i] = vm.addr(keys[i]);
        }
        oracle = new AgentOracle(nodes, 3);
        consumer = new ProbeConsumer(address(oracle));
        vm.deal(address(this), 100 ether);
    }

    receive() external payable {}

    // ------------------------------------------------------------------ helpers

    function ask(IAgentOracle.Kind kind) internal returns (uint256) {
        return consumer.ask{value: FEE}("Is 7 a prime number?", kind, "", 200_000);
    }

    function answer(AgentOracle o, uint256 key, uint256 id, bytes memory value) internal view returns (AgentOracle.Answer memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, o.answerDigest(id, value, MODEL));
        return AgentOracle.Answer(value, MODEL, abi.encodePacked(r, s, v));
    }

    /// Signed answers from the given key indexes, sorted by signer address as fulfill requires.
    function signed(uint256 id, uint256[] memory who, bytes[] memory values) internal view returns (AgentOracle.Answer[] memory out) {
        out = new AgentOracle.Answer[](who.length);
        address[] memory addrs = new address[](who.length);
        for (uint256 i; i < who.length; ++i) {
            out[i] = answer(oracle, keys[who[i]], id, values[i]);
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

    // ------------------------------------------------------------------ quorum and fees

    function testQuorumMetDeliversResultAndSplitsFee() public {
        uint256 id = ask(IAgentOracle.Kind.Bool);
        oracle.fulfill(id, signed(id, idx(0, 1, 2), same(3, abi.encode(true))));
        assertEq(consumer.results(id), abi.encode(true), "result delivered");
        for (uint256 i; i < 3; ++i) assertEq(oracle.credits(vm.addr(keys[i])), FEE / 3, "fee share");
        assertEq(oracle.credits(vm.addr(keys[3])), 0, "silent node unpaid");
        (,,,,, AgentOracle.Status st,) = oracle.requests(id);
        assertTrue(st == AgentOracle.Status.Fulfilled, "fulfilled");
    }

    function testQuorumNotMet() public {
        uint256 id = ask(IAgentOracle.Kind.Bool);
        uint256[] memory two = new uint256[](2);
        (two[0], two[1]) = (0, 1);
        AgentOracle.Answer[] memory a = signed(id, two, same(2, abi.encode(true)));
        vm.expectRevert(abi.encodeWithSelector(AgentOracle.QuorumNotMet.selector, 2, 3));
        oracle.fulfill(id, a);
    }

    function testDisagreeingAnswersRejected() public {
        uint256 id = ask(IAgentOracle.Kind.Bool);
        bytes[] memory vs = same(3, abi.encode(true));
        vs[1] = abi.encode(false);
        AgentOracle.Answer[] memory a = signed(id, idx(0, 1, 2), vs);
        vm.expectRevert();
        oracle.fulfill(id, a);
    }

    function testWithdrawPaysCredit() public {
        uint256 id = ask(IAgentOracle.Kind.Bool);
        oracle.fulfill(id, signed(id, idx(0, 1, 2), same(3, abi.encode(true))));
        address node = vm.addr(keys[0]);
        uint256 before = node.balance;
        vm.prank(node);
        oracle.withdraw();
        assertEq(node.balance - before, FEE / 3, "withdrawn");
        vm.prank(node);
        vm.expectRevert(AgentOracle.NothingToWithdraw.selector);
        oracle.withdraw();
    }

    // ------------------------------------------------------------------ signatures

    function testDuplicateSignerRejected() public {
        uint256 id = ask(IAgentOracle.Kind.Bool);
        AgentOracle.Answer[] memory a = signed(id, idx(0, 1, 2), same(3, abi.encode(true)));
        a[2] = a[1];
        address dup = _signerOf(id, a[1]);
        vm.expectRevert(abi.encodeWithSelector(AgentOracle.DuplicateSigner.selector, dup));
        oracle.fulfill(id, a);
    }

    function _signerOf(uint256 id, AgentOracle.Answer memory a) internal view returns (address) {
        for (uint256 i; i < keys.length; ++i) {
            AgentOracle.Answer memory b = answer(oracle, keys[i], id, a.value);
            if (keccak256(b.signature) == keccak256(a.signature)) return vm.addr(keys[i]);
        }
        return address(0);
    }

    function testUnknownSignerRejected() public {
        uint256 id = ask(IAgentOracle.Kind.Bool);
        AgentOracle.Answer[] memory a = signed(id, idx(0, 1, 2), same(3, abi.encode(true)));
        a[0] = answer(oracle, 0xBAD, id, abi.encode(true));
        vm.expectRevert(abi.encodeWithSelector(AgentOracle.UnknownSigner.selector, vm.addr(0xBAD)));
        oracle.fulfill(id, a);
    }

    function testForgedSignatureRejected() public {
        uint256 id = ask(IAgentOracle.Kind.Bool);
        AgentOracle.Answer[] memory a = signed(id, idx(0, 1, 2), same(3, abi.encode(true)));
        bytes memory sig = a[0].signature;
        sig[10] = bytes1(uint8(sig[10]) ^ 0xff);
        vm.expectRevert();
        oracle.fulfill(id, a);
    }

    function testMalleableTwinRejected() public {
        uint256 id = ask(IAgentOracle.Kind.Bool);
        AgentOracle.Answer[] memory a = signed(id, idx(0, 1, 2), same(3, abi.encode(true)));
        bytes memory sig = a[0].signature;
        bytes32 r;
        bytes32 s;
        assembly {
            r := mload(add(sig, 32))
            s := mload(add(sig, 64))
        }
        uint8 v = uint8(sig[64]);
        uint256 n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;
        a[0].signature = abi.encodePacked(r, bytes32(n - uint256(s)), v == 27 ? uint8(28) : uint8(27));
        vm.expectRevert(abi.encodeWithSelector(AgentOracle.BadSignature.selector, 0));
        oracle.fulfill(id, a);
    }

    function testReplayAcrossRequestsRejected() public {
        uint256 first = ask(IAgentOracle.Kind.Bool);
        uint256 second = ask(IAgentOracle.Kind.Bool);
        AgentOracle.Answer[] memory a = signed(first, idx(0, 1, 2), same(3, abi.encode(true)));
        vm.expectRevert(); // recovers to some unknown address
        oracle.fulfill(second, a);
        oracle.fulfill(first, a);
        vm.expectRevert(abi.encodeWithSelector(AgentOracle.NotPending.selector, first));
        oracle.fulfill(first, a);
    }

    function testReplayAcrossOracleAddressesRejected() public {
        address[] memory nodes = new address[](4);
        for (uint256 i; i < 4; ++i) nodes[i] = vm.addr(keys[i]);
        AgentOracle other = new AgentOracle(nodes, 3);
        uint256 id = ask(IAgentOracle.Kind.Bool);
        AgentOracle.Answer[] memory a = signed(id, idx(0, 1, 2), same(3, abi.encode(true)));
        for (uint256 i; i < 3; ++i) a[i] = answer(other, keys[i], id, abi.encode(true)); // domain of another oracle
        vm.expectRevert();
        oracle.fulfill(id, a);
    }

    function testReplayAcrossChainsRejected() public {
        uint256 id = ask(IAgentOracle.Kind.Bool);
        AgentOracle.Answer[] memory a = signed(id, idx(0, 1, 2), same(3, abi.encode(true)));
        vm.chainId(1); // the same signatures presented on another chain
        vm.expectRevert();
        oracle.fulfill(id, a);
    }

    function testPinnedModelEnforced() public {
        uint256 id = consumer.askPinned{value: FEE}("q", IAgentOracle.Kind.Bool, keccak256("another model"), 0);
        AgentOracle.Answer[] memory a = signed(id, idx(0, 1, 2), same(3, abi.encode(true)));
        vm.expectRevert(abi.encodeWithSelector(AgentOracle.WrongModel.selector, 0, MODEL));
        oracle.fulfill(id, a);
    }

    function testRegistryChangeMidRequest() public {
        uint256 id = ask(IAgentOracle.Kind.Bool);
        AgentOracle.Answer[] memory a = signed(id, idx(0, 1, 2), same(3, abi.encode(true)));
        oracle.removeNode(vm.addr(keys[1]));
        vm.expectRevert(abi.encodeWithSelector(AgentOracle.UnknownSigner.selector, vm.addr(keys[1])));
        oracle.fulfill(id, a);
        oracle.fulfill(id, signed(id, idx(0, 2, 3), same(3, abi.encode(true))));
        assertEq(consumer.results(id), abi.encode(true), "remaining nodes fulfil");
    }

    function testOnlyOwnerManagesRegistryAndQuorumStaysMajority() public {
        vm.prank(address(0xBEEF));
        vm.expectRevert(AgentOracle.NotOwner.selector);
        oracle.addNode(address(0xBEEF));
        vm.expectRevert(abi.encodeWithSelector(AgentOracle.BadQuorum.selector, 2, 4));
        oracle.setQuorum(2);
    }

    // ------------------------------------------------------------------ callbacks

    function _fulfilWith(ProbeConsumer.Mode mode) internal {
        consumer.setMode(mode);
        uint256 id = ask(IAgentOracle.Kind.Bool);
        oracle.fulfill{gas: 1_000_000}(id, signed(id, idx(0, 1, 2), same(3, abi.encode(true))));
        (,,,,, AgentOracle.Status st,) = oracle.requests(id);
        assertTrue(st == AgentOracle.Status.Fulfilled, "fulfilled despite the callback");
        assertEq(oracle.credits(vm.addr(keys[0])) >= FEE / 3 ? 1 : 0, 1, "fee paid");
        // the oracle stays usable
        consumer.setMode(ProbeConsumer.Mode.Record);
        uint256 next = ask(IAgentOracle.Kind.Bool);
        oracle.fulfill(next, signed(next, idx(1, 2, 3), same(3, abi.encode(false))));
        assertEq(consumer.results(next), abi.encode(false), "next request works");
    }

    function testRevertingCallbackDoesNotBlock() public {
        _fulfilWith(ProbeConsumer.Mode.Revert);
    }

    function testGasBurningCallbackDoesNotBlock() public {
        _fulfilWith(ProbeConsumer.Mode.BurnGas);
    }

    function testReturnBombCallbackDoesNotBlock() public {
        _fulfilWith(ProbeConsumer.Mode.ReturnBomb);
    }

    function testSubmitterCannotStarveTheCallback() public {
        uint256 id = ask(IAgentOracle.Kind.Bool);
        AgentOracle.Answer[] memory a = signed(id, idx(0, 1, 2), same(3, abi.encode(true)));
        vm.expectRevert();
        oracle.fulfill{gas: 150_000}(id, a);
    }

    // ------------------------------------------------------------------ deadline

    function testCancelAfterDeadlineRefunds() public {
        uint256 id = ask(IAgentOracle.Kind.Bool);
        vm.expectRevert();
        consumer.cancel(id);
        vm.warp(block.timestamp + 1 hours + 1);
        uint256 before = address(consumer).balance;
        consumer.cancel(id);
        assertEq(address(consumer).balance - before, FEE, "refunded");
        AgentOracle.Answer[] memory a = signed(id, idx(0, 1, 2), same(3, abi.encode(true)));
        vm.expectRevert(abi.encodeWithSelector(AgentOracle.NotPending.selector, id));
        oracle.fulfill(id, a);
    }

    function testFulfilAfterDeadlineRejected() public {
        uint256 id = ask(IAgentOracle.Kind.Bool);
        AgentOracle.Answer[] memory a = signed(id, idx(0, 1, 2), same(3, abi.encode(true)));
        vm.warp(block.timestamp + 1 hours + 1);
        vm.expectRevert(abi.encodeWithSelector(AgentOracle.DeadlinePassed.selector, id));
        oracle.fulfill(id, a);
    }

    // ------------------------------------------------------------------ numeric kinds

    function testUintMedianOfObservations() public {
        uint256 id = ask(IAgentOracle.Kind.Uint);
        bytes[] memory vs = new bytes[](3);
        (vs[0], vs[1], vs[2]) = (abi.encode(uint256(42)), abi.encode(uint256(7)), abi.encode(uint256(1e30)));
        oracle.fulfill(id, signed(id, idx(0, 1, 2), vs));
        assertEq(consumer.results(id), abi.encode(uint256(42)), "median");
    }

    function testFuzzUintMedian(uint256[5] memory xs) public {
        uint256 id = ask(IAgentOracle.Kind.Uint);
        uint256[] memory who = new uint256[](4);
        bytes[] memory vs = new bytes[](4);
        for (uint256 i; i < 4; ++i) {
            who[i] = i;
            vs[i] = abi.encode(xs[i]);
        }
        AgentOracle.Answer[] memory a = signed(id, who, vs);
        oracle.fulfill(id, a);
        uint256 m = abi.decode(consumer.results(id), (uint256));
        uint256 below;
        uint256 above;
        for (uint256 i; i < 4; ++i) {
            if (xs[i] < m) below++;
            if (xs[i] > m) above++;
        }
        assertTrue(below <= 1 && above <= 2, "lower median of four");
    }

    function testFuzzIntMedian(int256 a, int256 b, int256 c) public {
        uint256 id = ask(IAgentOracle.Kind.Int);
        bytes[] memory vs = new bytes[](3);
        (vs[0], vs[1], vs[2]) = (abi.encode(a), abi.encode(b), abi.encode(c));
        oracle.fulfill(id, signed(id, idx(0, 1, 2), vs));
        int256 m = abi.decode(consumer.results(id), (int256));
        int256 lo = a < b ? a : b;
        int256 hi = a < b ? b : a;
        int256 expected = c < lo ? lo : (c > hi ? hi : c);
        assertEq(m, expected, "median of three");
    }

    function testFuzzOnlyRegisteredKeysSign(uint256 key) public {
        vm.assume(key > 0 && key < 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141);
        uint256 id = ask(IAgentOracle.Kind.Bool);
        AgentOracle.Answer[] memory a = signed(id, idx(0, 1, 2), same(3, abi.encode(true)));
        bool registered = key == keys[0] || key == keys[1] || key == keys[2] || key == keys[3];
        a[0] = answer(oracle, key, id, abi.encode(true));
        if (!registered) {
            vm.expectRevert(abi.encodeWithSelector(AgentOracle.UnknownSigner.selector, vm.addr(key)));
            oracle.fulfill(id, a);
        }
    }

    function testFuzzTamperedSignatureNeverCounts(uint8 byteIndex, uint8 flip) public {
        vm.assume(flip != 0 && byteIndex < 65);
        uint256 id = ask(IAgentOracle.Kind.Bool);
        AgentOracle.Answer[] memory a = signed(id, idx(0, 1, 2), same(3, abi.encode(true)));
        bytes memory sig = a[1].signature;
        sig[byteIndex] = bytes1(uint8(sig[byteIndex]) ^ flip);
        vm.expectRevert();
        oracle.fulfill(id, a);
    }
}
