// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {OracleFixture} from "./utils/OracleFixture.sol";
import {AgentOracle} from "../src/AgentOracle.sol";
import {IAgentOracle} from "../src/IAgentOracle.sol";
import {ProbeConsumer} from "../testing/ProbeConsumer.sol";

/// Requests, fulfilment, signatures and payments; each attack from the review written as a test.
contract AgentOracleTest is OracleFixture {
    function setUp() public {
        deployWith(4);
    }

    // ------------------------------------------------------------------ quorum and fees

    function testQuorumMetDeliversResultAndSplitsFee() public {
        uint256 id = ask(IAgentOracle.Kind.Bool);
        oracle.fulfill(id, signed(id, idx(0, 1, 2), same(3, abi.encode(true))));
        assertEq(consumer.results(id), abi.encode(true), "result delivered");
        for (uint256 i; i < 3; ++i) assertEq(oracle.credits(vm.addr(keys[i])), FEE / 3, "fee share");
        assertEq(oracle.credits(vm.addr(keys[3])), 0, "silent node unpaid");
        assertTrue(status(id) == IAgentOracle.Status.Fulfilled, "fulfilled");
        assertEq(commitment(id), bytes32(0), "commitment cleared once settled");
    }

    function testQuorumNotMet() public {
        uint256 id = ask(IAgentOracle.Kind.Bool);
        uint256[] memory two = new uint256[](2);
        (two[0], two[1]) = (0, 1);
        IAgentOracle.Answer[] memory a = signed(id, two, same(2, abi.encode(true)));
        vm.expectRevert(abi.encodeWithSelector(IAgentOracle.QuorumNotMet.selector, 2, 3));
        oracle.fulfill(id, a);
    }

    function testDisagreeingAnswersRejected() public {
        uint256 id = ask(IAgentOracle.Kind.Bool);
        bytes[] memory vs = same(3, abi.encode(true));
        vs[1] = abi.encode(false);
        IAgentOracle.Answer[] memory a = signed(id, idx(0, 1, 2), vs);
        vm.expectRevert();
        oracle.fulfill(id, a);
    }

    function testMoreThanAQuorumArePaidEqually() public {
        uint256 id = ask(IAgentOracle.Kind.Bool);
        oracle.fulfill(id, signed(id, range(4), same(4, abi.encode(true))));
        uint256 total;
        for (uint256 i; i < 4; ++i) total += oracle.credits(vm.addr(keys[i]));
        assertEq(total, FEE, "every wei of the fee credited");
    }

    function testWithdrawToPaysCreditElsewhere() public {
        uint256 id = ask(IAgentOracle.Kind.Bool);
        oracle.fulfill(id, signed(id, idx(0, 1, 2), same(3, abi.encode(true))));
        address node = vm.addr(keys[0]);
        address payee = address(0xCAFE);
        vm.prank(node);
        oracle.withdraw(payee);
        assertEq(payee.balance, FEE / 3, "withdrawn to the payee");
        vm.prank(node);
        vm.expectRevert(IAgentOracle.NothingToWithdraw.selector);
        oracle.withdraw(payee);
    }

    // ------------------------------------------------------------------ signatures

    function testDuplicateSignerRejected() public {
        uint256 id = ask(IAgentOracle.Kind.Bool);
        IAgentOracle.Answer[] memory a = signed(id, idx(0, 1, 2), same(3, abi.encode(true)));
        a[2] = a[1];
        vm.expectRevert();
        oracle.fulfill(id, a);
    }

    function testUnknownSignerRejected() public {
        uint256 id = ask(IAgentOracle.Kind.Bool);
        IAgentOracle.Answer[] memory a = signed(id, idx(0, 1, 2), same(3, abi.encode(true)));
        a[0] = answer(oracle, 0xBAD, commitment(id), abi.encode(true));
        vm.expectRevert(abi.encodeWithSelector(IAgentOracle.UnknownSigner.selector, vm.addr(0xBAD)));
        oracle.fulfill(id, a);
    }

    function testMalleableTwinRejected() public {
        uint256 id = ask(IAgentOracle.Kind.Bool);
        IAgentOracle.Answer[] memory a = signed(id, idx(0, 1, 2), same(3, abi.encode(true)));
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
        vm.expectRevert(abi.encodeWithSelector(IAgentOracle.BadSignature.selector, 0));
        oracle.fulfill(id, a);
    }

    function testReplayAcrossRequestsRejected() public {
        uint256 first = ask(IAgentOracle.Kind.Bool);
        uint256 second = ask(IAgentOracle.Kind.Bool);
        IAgentOracle.Answer[] memory a = signed(first, idx(0, 1, 2), same(3, abi.encode(true)));
        vm.expectRevert(); // recovers to some unknown address
        oracle.fulfill(second, a);
        oracle.fulfill(first, a);
        vm.expectRevert(abi.encodeWithSelector(IAgentOracle.NotPending.selector, first));
        oracle.fulfill(first, a);
    }

    function testReplayAcrossOracleAddressesRejected() public {
        address[] memory nodes = new address[](4);
        for (uint256 i; i < 4; ++i) nodes[i] = vm.addr(keys[i]);
        AgentOracle other = new AgentOracle(nodes, params(), STAKE, UNBONDING);
        uint256 id = ask(IAgentOracle.Kind.Bool);
        IAgentOracle.Answer[] memory a = signed(id, idx(0, 1, 2), same(3, abi.encode(true)));
        for (uint256 i; i < 3; ++i) a[i] = answer(other, keys[i], commitment(id), abi.encode(true)); // another oracle's domain
        vm.expectRevert();
        oracle.fulfill(id, a);
    }

    function testReplayAcrossChainsRejected() public {
        uint256 id = ask(IAgentOracle.Kind.Bool);
        IAgentOracle.Answer[] memory a = signed(id, idx(0, 1, 2), same(3, abi.encode(true)));
        vm.chainId(1); // the same signatures presented on another chain
        vm.expectRevert();
        oracle.fulfill(id, a);
    }

    /// After a reorg the same request id can carry another consumer's question: the signatures
    /// made for the first content must not settle the second.
    function testSignaturesAreBoundToTheRequestContentAcrossAReorg() public {
        uint256 snap = vm.snapshotState();
        uint256 id = ask(IAgentOracle.Kind.Bool);
        IAgentOracle.Answer[] memory a = signed(id, idx(0, 1, 2), same(3, abi.encode(true)));
        vm.revertToState(snap); // the block with the request is reorged out...
        ProbeConsumer other = new ProbeConsumer(address(oracle));
        uint256 id2 = other.ask{value: FEE}("Should the treasury be sent to 0xBAD?", IAgentOracle.Kind.Bool, "", 200_000);
        assertEq(id2, id, "same id, other content");
        vm.expectRevert();
        oracle.fulfill(id2, a);
        // each field of the content is bound: same prompt, another fee
        vm.revertToState(snap);
        uint256 id3 = consumer.ask{value: FEE + 1}("Is 7 a prime number?", IAgentOracle.Kind.Bool, "", 200_000);
        assertEq(id3, id, "same id, same prompt, other fee");
        vm.expectRevert();
        oracle.fulfill(id3, a);
    }

    function testAVerdictSignatureIsNotAnAnswer() public {
        uint256 id = ask(IAgentOracle.Kind.Uint);
        IAgentOracle.Verdict[] memory v = verdicts(id, idx(0, 1, 2), 3);
        IAgentOracle.Answer[] memory a = signed(id, idx(0, 1, 2), same(3, abi.encode(uint256(3))));
        for (uint256 i; i < 3; ++i) a[i].signature = v[i].signature;
        vm.expectRevert();
        oracle.fulfill(id, a);
    }

    function testPinnedModelEnforced() public {
        uint256 id = consumer.askPinned{value: FEE}("q", IAgentOracle.Kind.Bool, keccak256("another model"), 0);
        IAgentOracle.Answer[] memory a = signed(id, idx(0, 1, 2), same(3, abi.encode(true)));
        vm.expectRevert(abi.encodeWithSelector(IAgentOracle.WrongModel.selector, 0, MODEL));
        oracle.fulfill(id, a);
    }

    function testFuzzOnlyRegisteredKeysSign(uint256 key) public {
        vm.assume(key > 0 && key < 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141);
        uint256 id = ask(IAgentOracle.Kind.Bool);
        IAgentOracle.Answer[] memory a = signed(id, idx(0, 1, 2), same(3, abi.encode(true)));
        bool registered = key == keys[0] || key == keys[1] || key == keys[2] || key == keys[3];
        a[0] = answer(oracle, key, commitment(id), abi.encode(true));
        if (!registered) {
            vm.expectRevert(abi.encodeWithSelector(IAgentOracle.UnknownSigner.selector, vm.addr(key)));
            oracle.fulfill(id, a);
        }
    }

    function testFuzzTamperedSignatureNeverCounts(uint8 byteIndex, uint8 flip) public {
        vm.assume(flip != 0 && byteIndex < 65);
        uint256 id = ask(IAgentOracle.Kind.Bool);
        IAgentOracle.Answer[] memory a = signed(id, idx(0, 1, 2), same(3, abi.encode(true)));
        bytes memory sig = a[1].signature;
        sig[byteIndex] = bytes1(uint8(sig[byteIndex]) ^ flip);
        vm.expectRevert();
        oracle.fulfill(id, a);
    }

    // ------------------------------------------------------------------ validated results

    function _choice() internal returns (uint256) {
        string[] memory labels = new string[](3);
        (labels[0], labels[1], labels[2]) = ("blue", "green", "red");
        return consumer.ask{value: FEE}("Colour of the sky?", IAgentOracle.Kind.Choice, abi.encode(labels), 200_000);
    }

    function testFuzzChoiceIndexMustBeBelowTheLabelCount(uint256 index) public {
        uint256 id = _choice();
        assertEq(oracle.requests(id).labels, 3, "labels counted at request time");
        IAgentOracle.Answer[] memory a = signed(id, idx(0, 1, 2), same(3, abi.encode(index)));
        if (index >= 3) vm.expectRevert(abi.encodeWithSelector(IAgentOracle.QuorumNotMet.selector, 0, 3));
        oracle.fulfill(id, a);
    }

    function testBoolAnswerMustBeZeroOrOne() public {
        uint256 id = ask(IAgentOracle.Kind.Bool);
        IAgentOracle.Answer[] memory a = signed(id, idx(0, 1, 2), same(3, abi.encode(uint256(2))));
        vm.expectRevert(abi.encodeWithSelector(IAgentOracle.QuorumNotMet.selector, 0, 3));
        oracle.fulfill(id, a);
    }

    function testTextAnswersAreWellFormedAbiStringsUnderTheCap() public {
        uint256 id = ask(IAgentOracle.Kind.Text);
        bytes[] memory bad = new bytes[](6);
        bad[0] = abi.encode(""); // empty
        bad[1] = abi.encode(string(new bytes(257))); // over MAX_TEXT_BYTES
        bad[2] = abi.encodePacked(uint256(64), uint256(5), bytes32("paris")); // wrong offset
        bad[3] = abi.encodePacked(uint256(32), uint256(500), bytes32("paris")); // length beyond the data
        bad[4] = abi.encodePacked(uint256(32), uint256(5), bytes32("parisXYZ")); // dirty padding
        bad[5] = abi.encodePacked(abi.encode("paris"), uint256(0)); // trailing bytes
        for (uint256 k; k < bad.length; ++k) {
            IAgentOracle.Answer[] memory a = signed(id, idx(0, 1, 2), same(3, bad[k]));
            vm.expectRevert(abi.encodeWithSelector(IAgentOracle.QuorumNotMet.selector, 0, 3));
            oracle.fulfill(id, a);
        }
        oracle.fulfill(id, signed(id, idx(0, 1, 2), same(3, abi.encode(string(new bytes(256))))));
        assertTrue(status(id) == IAgentOracle.Status.Fulfilled, "256 bytes is within the cap");
    }

    function testFuzzTextEncodingChecked(bytes calldata value) public {
        uint256 id = ask(IAgentOracle.Kind.Text);
        IAgentOracle.Answer[] memory a = signed(id, idx(0, 1, 2), same(3, value));
        bool ok = value.length >= 96 && value.length <= 64 + 256 && uint256(bytes32(value[0:32])) == 32
            && keccak256(value) == keccak256(abi.encode(abi.decode(value, (string))))
            && bytes(abi.decode(value, (string))).length > 0;
        if (!ok) vm.expectRevert(abi.encodeWithSelector(IAgentOracle.QuorumNotMet.selector, 0, 3));
        oracle.fulfill(id, a);
    }

    // ------------------------------------------------------------------ bounds at request time

    function testEmptyPromptRefused() public {
        vm.expectRevert(IAgentOracle.EmptyPrompt.selector);
        consumer.ask{value: FEE}("", IAgentOracle.Kind.Bool, "", 100_000);
    }

    function testOversizedPromptAndOptionsRefused() public {
        vm.expectRevert(abi.encodeWithSelector(IAgentOracle.PromptTooLarge.selector, 32_769, 32_768));
        consumer.ask{value: FEE}(string(new bytes(32_769)), IAgentOracle.Kind.Bool, "", 100_000);
        vm.expectRevert(abi.encodeWithSelector(IAgentOracle.OptionsTooLarge.selector, 4_097, 4_096));
        consumer.ask{value: FEE}("q", IAgentOracle.Kind.Choice, new bytes(4_097), 100_000);
        vm.expectRevert(abi.encodeWithSelector(IAgentOracle.OptionsNotAllowed.selector, IAgentOracle.Kind.Bool));
        consumer.ask{value: FEE}("q", IAgentOracle.Kind.Bool, hex"00", 100_000);
    }

    function testBadLabelsRefused() public {
        string[] memory none = new string[](0);
        string[] memory one = new string[](1);
        one[0] = "yes";
        string[] memory blank = new string[](2);
        (blank[0], blank[1]) = ("yes", "");
        bytes[] memory bad = new bytes[](6);
        bad[0] = "";
        bad[1] = abi.encode(none);
        bad[2] = abi.encode(one);
        bad[3] = abi.encode(blank);
        bad[4] = abi.encodePacked(abi.encode(_two()), uint256(0)); // trailing bytes
        bad[5] = abi.encode(uint256(32), uint256(2), uint256(64), uint256(999)); // offsets that do not follow
        for (uint256 k; k < bad.length; ++k) {
            vm.expectRevert(IAgentOracle.BadLabels.selector);
            consumer.ask{value: FEE}("q", IAgentOracle.Kind.Choice, bad[k], 100_000);
        }
        consumer.ask{value: FEE}("q", IAgentOracle.Kind.Choice, abi.encode(_two()), 100_000);
    }

    function _two() internal pure returns (string[] memory two) {
        two = new string[](2);
        (two[0], two[1]) = ("yes", "a label longer than thirty-two bytes, padded");
    }

    function testFuzzLabelCountMatchesAbiDecoding(string[] memory labels) public {
        bytes memory options = abi.encode(labels);
        vm.assume(options.length <= 4_096);
        bool ok = labels.length >= 2 && labels.length <= 64;
        for (uint256 i; i < labels.length; ++i) {
            if (bytes(labels[i]).length == 0) ok = false;
        }
        if (!ok) vm.expectRevert(IAgentOracle.BadLabels.selector);
        uint256 id = consumer.ask{value: FEE}("q", IAgentOracle.Kind.Choice, options, 100_000);
        if (ok) assertEq(oracle.requests(id).labels, labels.length, "labels");
    }

    /// The timeout that overflowed the node's 64-bit deadline column, and every other one.
    function testFuzzTimeoutBounds(uint64 timeout) public {
        bool ok = timeout == 0 || (timeout >= 60 && timeout <= 1 days);
        if (!ok) vm.expectRevert(abi.encodeWithSelector(IAgentOracle.TimeoutOutOfRange.selector, timeout, 60, 1 days));
        uint256 id = consumer.askPinned{value: FEE}("q", IAgentOracle.Kind.Bool, bytes32(0), timeout);
        if (ok) {
            uint256 expected = block.timestamp + (timeout == 0 ? 1 hours : timeout);
            assertEq(oracle.requests(id).deadline, expected, "deadline");
        }
    }

    function testCallbackGasBounded() public {
        vm.expectRevert(abi.encodeWithSelector(IAgentOracle.CallbackGasTooHigh.selector, 2_000_001, 2_000_000));
        consumer.ask{value: FEE}("q", IAgentOracle.Kind.Bool, "", 2_000_001);
    }

    // ------------------------------------------------------------------ callbacks

    function _fulfilWith(ProbeConsumer.Mode mode) internal {
        consumer.setMode(mode);
        uint256 id = ask(IAgentOracle.Kind.Bool);
        oracle.fulfill{gas: 1_000_000}(id, signed(id, idx(0, 1, 2), same(3, abi.encode(true))));
        assertTrue(status(id) == IAgentOracle.Status.Fulfilled, "fulfilled despite the callback");
        assertEq(oracle.credits(vm.addr(keys[0])) >= FEE / 3 ? 1 : 0, 1, "fee paid");
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
        IAgentOracle.Answer[] memory a = signed(id, idx(0, 1, 2), same(3, abi.encode(true)));
        vm.expectRevert();
        oracle.fulfill{gas: 150_000}(id, a);
    }

    // ------------------------------------------------------------------ deadline, cancel, refunds

    function testAnyoneCancelsAfterTheDeadlineAndTheRequesterIsRefunded() public {
        uint256 id = ask(IAgentOracle.Kind.Bool);
        vm.expectRevert();
        oracle.cancel(id);
        vm.warp(block.timestamp + 1 hours + 1);
        vm.prank(address(0xD00D)); // a stranger cancels...
        oracle.cancel(id);
        assertEq(oracle.credits(address(0xD00D)), 0, "...and gains nothing");
        assertEq(oracle.credits(address(consumer)), FEE, "refund credited to the requester");
        uint256 before = address(consumer).balance;
        consumer.withdrawRefund(address(consumer));
        assertEq(address(consumer).balance - before, FEE, "refunded");
        IAgentOracle.Answer[] memory a = signed(id, idx(0, 1, 2), same(3, abi.encode(true)));
        vm.expectRevert(abi.encodeWithSelector(IAgentOracle.NotPending.selector, id));
        oracle.fulfill(id, a);
    }

    /// A consumer that cannot receive ETH still gets its refund: it withdraws it to another address.
    function testANonPayableConsumerDoesNotLoseItsRefund() public {
        NonPayableConsumer c = new NonPayableConsumer(oracle);
        uint256 id = c.ask{value: FEE}();
        vm.warp(block.timestamp + 1 hours + 1);
        oracle.cancel(id); // a push to this consumer would fail: nothing is pushed
        assertEq(oracle.credits(address(c)), FEE, "credited");
        c.withdrawTo(address(0xF00D));
        assertEq(address(0xF00D).balance, FEE, "refund reached the consumer's chosen address");
    }

    function testFulfilAfterDeadlineRejected() public {
        uint256 id = ask(IAgentOracle.Kind.Bool);
        IAgentOracle.Answer[] memory a = signed(id, idx(0, 1, 2), same(3, abi.encode(true)));
        vm.warp(block.timestamp + 1 hours + 1);
        vm.expectRevert(abi.encodeWithSelector(IAgentOracle.DeadlinePassed.selector, id));
        oracle.fulfill(id, a);
    }

    // ------------------------------------------------------------------ unanswerable

    function testAQuorumOfVerdictsSettlesAtOnceAndRefunds() public {
        vm.fee(1 gwei);
        vm.txGasPrice(2 gwei); // the request's gas-price bound is its own gas price
        uint256 id = ask(IAgentOracle.Kind.Bool);
        address transmitter = vm.addr(keys[3]);
        IAgentOracle.Verdict[] memory v = verdicts(id, idx(0, 1, 2), 2);
        vm.prank(transmitter);
        oracle.settleUnanswerable(id, v);
        assertTrue(status(id) == IAgentOracle.Status.Unanswerable, "settled as unanswerable");
        uint256 reimbursed = oracle.credits(transmitter);
        assertTrue(reimbursed > 0 && reimbursed < 200_000 * 2 gwei, "transmitter reimbursed its gas, capped");
        assertEq(oracle.credits(address(consumer)) + reimbursed, FEE, "the rest refunded to the requester");
        assertEq(consumer.unanswered(id), 2, "consumer told why");
        for (uint256 i; i < 3; ++i) assertEq(oracle.credits(vm.addr(keys[i])), 0, "no pay for not answering");
    }

    function testVerdictsNeedAQuorumOfTheRequestEpochAndAValidReason() public {
        uint256 id = ask(IAgentOracle.Kind.Bool);
        uint256[] memory two = new uint256[](2);
        (two[0], two[1]) = (0, 1);
        IAgentOracle.Verdict[] memory v2 = verdicts(id, two, 1);
        vm.expectRevert(abi.encodeWithSelector(IAgentOracle.QuorumNotMet.selector, 2, 3));
        oracle.settleUnanswerable(id, v2);
        IAgentOracle.Verdict[] memory v = verdicts(id, idx(0, 1, 2), 0);
        vm.expectRevert(abi.encodeWithSelector(IAgentOracle.BadReason.selector, 0));
        oracle.settleUnanswerable(id, v);
        v = verdicts(id, idx(0, 1, 2), 6);
        vm.expectRevert(abi.encodeWithSelector(IAgentOracle.BadReason.selector, 0));
        oracle.settleUnanswerable(id, v);
        uint256 other = ask(IAgentOracle.Kind.Bool);
        v = verdicts(other, idx(0, 1, 2), 1); // verdicts for another request
        vm.expectRevert();
        oracle.settleUnanswerable(id, v);
        v = verdicts(id, idx(0, 1, 2), 1);
        v[0].reason = 3; // a signed reason cannot be rewritten
        vm.expectRevert();
        oracle.settleUnanswerable(id, v);
    }

    function testAnAnsweredRequestCannotBeDeclaredUnanswerable() public {
        uint256 id = ask(IAgentOracle.Kind.Bool);
        IAgentOracle.Verdict[] memory v = verdicts(id, idx(0, 1, 2), 1);
        oracle.fulfill(id, signed(id, idx(0, 1, 2), same(3, abi.encode(true))));
        vm.expectRevert(abi.encodeWithSelector(IAgentOracle.NotPending.selector, id));
        oracle.settleUnanswerable(id, v);
    }

    // ------------------------------------------------------------------ numeric kinds

    function testUintMedianOfObservations() public {
        uint256 id = ask(IAgentOracle.Kind.Uint);
        bytes[] memory vs = new bytes[](3);
        (vs[0], vs[1], vs[2]) = (abi.encode(uint256(42)), abi.encode(uint256(7)), abi.encode(uint256(1e30)));
        oracle.fulfill(id, signed(id, idx(0, 1, 2), vs));
        assertEq(consumer.results(id), abi.encode(uint256(42)), "median");
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
}

/// A consumer with no way to receive ETH (no receive, no payable fallback).
contract NonPayableConsumer {
    IAgentOracle immutable oracle;

    constructor(IAgentOracle oracle_) {
        oracle = oracle_;
    }

    function ask() external payable returns (uint256) {
        return oracle.request{value: msg.value}("Is 7 a prime number?", IAgentOracle.Kind.Bool, "", 0);
    }

    function withdrawTo(address to) external {
        oracle.withdraw(to);
    }
}
