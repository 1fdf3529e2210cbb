// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {OracleFixture} from "./utils/OracleFixture.sol";
import {AgentOracle} from "../src/AgentOracle.sol";
import {IAgentOracle} from "../src/IAgentOracle.sol";

/// A node contract that tries to take its credit or its stake twice by re-entering on payment.
contract Reenterer {
    AgentOracle immutable oracle;
    uint256 public reentered;
    bool public secondOk;

    constructor(AgentOracle oracle_) {
        oracle = oracle_;
    }

    function stake() external payable {
        oracle.stake{value: msg.value}();
    }

    function call(bytes calldata data) external {
        (bool ok, bytes memory ret) = address(oracle).call(data);
        if (!ok) {
            assembly {
                revert(add(ret, 32), mload(ret))
            }
        }
    }

    receive() external payable {
        if (reentered++ > 0) return;
        (bool a,) = address(oracle).call(abi.encodeCall(IAgentOracle.withdraw, (address(this))));
        (bool b,) = address(oracle).call(abi.encodeCall(IAgentOracle.withdrawStake, (address(this))));
        secondOk = a || b;
    }
}

/// The economics attacked as a hostile reviewer would after release: draining the fee through
/// the transmitter's reimbursement, escaping a slash, griefing a report, paying twice, and the
/// accounting invariant over random sequences of everything that moves ETH.
contract AgentOracleAttacksTest is OracleFixture {
    function setUp() public {
        deployWith(4); // f = 1, quorum 3
    }

    function _nodeCredits() internal view returns (uint256 sum) {
        for (uint256 i; i < keys.length; ++i) sum += oracle.nodeInfo(vm.addr(keys[i])).credit;
    }

    /// A request paying exactly the estimate at 1 gwei (what a thrifty requester does).
    function _askAtEstimate(uint32 callbackGas) internal returns (uint256 id, uint256 fee) {
        vm.fee(1 gwei);
        vm.txGasPrice(1 gwei);
        fee = oracle.estimateFee(IAgentOracle.Kind.Bool, callbackGas, 1 gwei);
        id = consumer.ask{value: fee}("Is 7 a prime number?", IAgentOracle.Kind.Bool, "", callbackGas);
    }

    // ------------------------------------------------------------------ reimbursement

    /// The transmitter pads its transaction (junk after the ABI-encoded report is accepted by the
    /// decoder; every byte is real gas it pays and is reimbursed at cost) to turn the nodes' part
    /// of the fee into its own gas: the honest nodes would earn nothing at no cost to it (and a
    /// builder keeps the tip). Reimbursement is capped at the gas the fee was priced for.
    function testFuzzPaddingTheReportCannotDrainTheNodesShare(uint16 padKb, bool zeros) public {
        (uint256 id, uint256 fee) = _askAtEstimate(200_000);
        bytes memory pad = new bytes(uint256(padKb % 40 + 1) * 1024);
        if (!zeros) for (uint256 i; i < pad.length; ++i) pad[i] = 0xff;
        IAgentOracle.Answer[] memory a = signed(id, range(4), same(4, abi.encode(true)));
        bytes memory data = abi.encodePacked(abi.encodeCall(IAgentOracle.fulfill, (id, a)), pad);
        address transmitter = address(0x7E57);
        vm.prank(transmitter);
        (bool ok,) = address(oracle).call(data);
        assertTrue(ok, "the padded report is accepted");
        IAgentOracle.Params memory p = oracle.params();
        uint256 cap = (uint256(p.fulfilGas) + uint256(p.gasPerNode) * 4 + 200_000) * 1 gwei;
        assertTrue(oracle.credits(transmitter) <= cap, "reimbursed at most the gas the fee priced");
        assertTrue(_nodeCredits() >= fee - cap, "the nodes keep at least the premium");
        assertEq(_nodeCredits() + oracle.credits(transmitter), fee, "every wei accounted");
    }

    /// The same against a verdict settlement: the requester's refund is what padding would eat.
    function testPaddingVerdictsCannotEatTheRequestersRefund() public {
        (uint256 id, uint256 fee) = _askAtEstimate(200_000);
        IAgentOracle.Verdict[] memory v = verdicts(id, range(4), 2);
        bytes memory pad = new bytes(30 * 1024);
        for (uint256 i; i < pad.length; ++i) pad[i] = 0xff;
        bytes memory data = abi.encodePacked(abi.encodeCall(IAgentOracle.settleUnanswerable, (id, v)), pad);
        address transmitter = address(0x7E57);
        vm.prank(transmitter);
        (bool ok,) = address(oracle).call(data);
        assertTrue(ok, "settled");
        IAgentOracle.Params memory p = oracle.params();
        uint256 cap = (uint256(p.fulfilGas) + uint256(p.gasPerNode) * 4 + 200_000) * 1 gwei;
        assertTrue(oracle.credits(transmitter) <= cap, "reimbursed at most the priced gas");
        assertEq(oracle.credits(address(consumer)) + oracle.credits(transmitter), fee, "the rest refunded");
    }

    /// A transmitter that bids far above the market is reimbursed at basefee + 2 gwei at most,
    /// whatever bound the requester accepted.
    function testAnOverbiddingTransmitterIsNotReimbursedItsBid() public {
        vm.fee(1 gwei);
        vm.txGasPrice(100 gwei);
        uint256 id = consumer.ask{value: 1 ether}("q", IAgentOracle.Kind.Bool, "", 0); // bound: 100 gwei
        address transmitter = address(0x7E57);
        IAgentOracle.Answer[] memory report = signed(id, range(3), same(3, abi.encode(true)));
        vm.prank(transmitter);
        oracle.fulfill(id, report);
        IAgentOracle.Params memory p = oracle.params();
        assertTrue(oracle.credits(transmitter) > 0, "reimbursed");
        assertTrue(oracle.credits(transmitter) <= (uint256(p.fulfilGas) + uint256(p.gasPerNode) * 3) * 3 gwei, "priced at 3 gwei");
    }

    /// One fee, one settlement: after a fulfil, neither a verdict settlement, a cancel, nor a
    /// second fulfil (a replayed transaction) pays anything again.
    function testASettledRequestPaysNothingTwice() public {
        uint256 id = ask(IAgentOracle.Kind.Bool);
        oracle.fulfill(id, signed(id, range(3), same(3, abi.encode(true))));
        uint256 balance = address(oracle).balance;
        bytes memory notPending = abi.encodeWithSelector(IAgentOracle.NotPending.selector, id);
        IAgentOracle.Answer[] memory again = signed(id, range(4), same(4, abi.encode(true)));
        IAgentOracle.Verdict[] memory v = verdicts(id, range(4), 1);
        vm.expectRevert(notPending);
        oracle.fulfill(id, again);
        vm.expectRevert(notPending);
        oracle.settleUnanswerable(id, v);
        vm.warp(block.timestamp + 2 days);
        vm.expectRevert(notPending);
        oracle.cancel(id);
        assertEq(oracle.credits(address(consumer)), 0, "no refund of a spent fee");
        assertEq(address(oracle).balance, balance, "nothing moved");

        uint256 id2 = ask(IAgentOracle.Kind.Bool);
        vm.warp(block.timestamp + 2 days);
        oracle.cancel(id2);
        vm.expectRevert(abi.encodeWithSelector(IAgentOracle.NotPending.selector, id2));
        oracle.cancel(id2);
        assertEq(oracle.credits(address(consumer)), FEE, "refunded once");
    }

    // ------------------------------------------------------------------ escaping the slash

    /// A node unbonds, waits until its stake is almost free, then equivocates on a fresh request
    /// (one seal in the report, another to a peer) and withdraws before the evidence lands.
    /// An unbonding node no longer counts in a report, so a seal that mattered was made while
    /// bonded, and stays slashable for the whole unbonding delay after.
    function testAnUnbondingNodeCannotEquivocateAndRunWithTheStake() public {
        address node = vm.addr(keys[0]);
        vm.prank(node);
        oracle.unbond();
        uint64 due = uint64(block.timestamp) + UNBONDING;
        vm.warp(due - 30);
        uint256 id = ask(IAgentOracle.Kind.Bool);
        bytes32 c = commitment(id);
        oracle.fulfill(id, signed(id, range(4), same(4, abi.encode(true))));
        assertEq(oracle.nodeInfo(node).credit, 0, "an unbonding node's seal earns nothing");
        assertEq(oracle.nodeInfo(node).answered, 0, "nor counts");
        assertTrue(!oracle.isSignerOf(node, 1), "an unbonding node does not sign");

        // the node still signs while bonded; it equivocates, its seal lands, then it unbonds:
        // the evidence has the whole delay to land
        address liar = vm.addr(keys[1]);
        uint256 id2 = ask(IAgentOracle.Kind.Bool);
        bytes32 c2 = commitment(id2);
        oracle.fulfill(id2, signed(id2, idx(1, 2, 3), same(3, abi.encode(true))));
        vm.prank(liar);
        oracle.unbond();
        vm.warp(block.timestamp + UNBONDING - 1);
        oracle.slash(signedSeal(oracle, keys[1], c2, abi.encode(true)), signedSeal(oracle, keys[1], c2, abi.encode(false)));
        assertTrue(oracle.nodeInfo(liar).bond == IAgentOracle.Bond.Slashed, "caught before the stake left");
        c; // the first request's commitment: node 0's late seals could not settle anything
    }

    /// A node in a report slashes itself (from a second address, recovering half its stake) just
    /// before the report lands, to make the whole fulfil revert. Its entry now merely does not
    /// count: the rest of the report settles and the honest nodes are paid.
    function testSlashingYourselfDoesNotBlockTheReport() public {
        uint256 id = ask(IAgentOracle.Kind.Bool);
        bytes32 c = commitment(id);
        IAgentOracle.Answer[] memory report = signed(id, range(4), same(4, abi.encode(true)));
        address griefer = vm.addr(keys[3]);
        IAgentOracle.SignedCommit memory yes = signedSeal(oracle, keys[3], c, abi.encode(true));
        IAgentOracle.SignedCommit memory no = signedSeal(oracle, keys[3], c, abi.encode(false));
        vm.prank(address(0x5EBF)); // a second address of the griefer's
        oracle.slash(yes, no);
        assertEq(oracle.credits(address(0x5EBF)), STAKE / 2, "it recovered half");
        vm.prank(griefer);
        vm.expectRevert(abi.encodeWithSelector(IAgentOracle.NotBonded.selector, griefer));
        oracle.unbond();
        oracle.fulfill(id, report);
        assertEq(uint8(status(id)), uint8(IAgentOracle.Status.Fulfilled), "settled");
        assertEq(oracle.nodeInfo(griefer).credit, 0, "the slashed node is unpaid");
        for (uint256 i; i < 3; ++i) assertEq(oracle.nodeInfo(vm.addr(keys[i])).credit, FEE / 3, "the honest share it");
    }

    /// Same with unbonding: a node that unbonds after sealing no longer counts, nothing reverts.
    function testUnbondingAfterSealingDoesNotBlockTheReport() public {
        uint256 id = ask(IAgentOracle.Kind.Bool);
        IAgentOracle.Answer[] memory report = signed(id, range(4), same(4, abi.encode(true)));
        vm.prank(vm.addr(keys[2]));
        oracle.unbond();
        oracle.fulfill(id, report);
        assertEq(oracle.nodeInfo(vm.addr(keys[2])).credit, 0, "unbonding: unpaid");
        assertEq(_nodeCredits(), FEE, "the three bonded share the fee");
    }

    /// A double-signer reports itself from a second address to recover the reporter's half: it
    /// still loses the other half and can never sign again (the price of equivocation is half the
    /// stake at least; the owner's half is not the node's to take back).
    function testSelfReportingStillCostsHalfTheStake() public {
        uint256 id = ask(IAgentOracle.Kind.Bool);
        bytes32 c = commitment(id);
        address liar = vm.addr(keys[1]);
        IAgentOracle.SignedCommit memory yes = signedSeal(oracle, keys[1], c, abi.encode(true));
        IAgentOracle.SignedCommit memory no = signedSeal(oracle, keys[1], c, abi.encode(false));
        vm.prank(liar); // even as its own reporter
        oracle.slash(yes, no);
        assertEq(oracle.credits(liar), STAKE / 2, "half back at most");
        assertTrue(!oracle.isSignerOf(liar, 1), "and out for good");
        vm.deal(liar, STAKE);
        vm.prank(liar);
        vm.expectRevert(abi.encodeWithSelector(IAgentOracle.AlreadyStaked.selector, liar));
        oracle.stake{value: STAKE}();
    }

    /// A node removed from the registry while a request of its epoch is pending still answers for
    /// that epoch and is paid; a node added after the request cannot sign it.
    function testARegistryChangeMidRequestNeitherRobsNorAddsSigners() public {
        address[] memory next = new address[](4);
        for (uint256 i; i < 3; ++i) next[i] = vm.addr(keys[i + 1]);
        keys.push(0xA11CE + 99);
        next[3] = vm.addr(keys[4]);
        stakeAs(oracle, keys[4]);
        oracle.proposeNodes(next);
        vm.warp(block.timestamp + 1 days - 1);
        uint256 id = consumer.askPinned{value: FEE}("q", IAgentOracle.Kind.Bool, bytes32(0), 1 days);
        vm.warp(block.timestamp + 1);
        oracle.applyNodes(); // epoch 2: node 0 out, node 4 in
        IAgentOracle.Answer[] memory withNew = signed(id, idx(1, 2, 4), same(3, abi.encode(true)));
        vm.expectRevert(abi.encodeWithSelector(IAgentOracle.UnknownSigner.selector, vm.addr(keys[4])));
        oracle.fulfill(id, withNew);
        oracle.fulfill(id, signed(id, range(3), same(3, abi.encode(true))));
        assertEq(oracle.nodeInfo(vm.addr(keys[0])).credit, FEE / 3, "the removed node is paid for its epoch");
    }

    /// Extreme callback gas and gas-price bounds: the fee maths never overflows into a panic; a
    /// request is refused with the estimate, or accepted with a fee that covers it.
    function testFuzzExtremeBoundsAreRefusedByNameNotByPanic(uint32 callbackGas, uint64 maxGasPrice) public {
        callbackGas = uint32(callbackGas % 2_000_001);
        uint256 estimate = oracle.estimateFee(IAgentOracle.Kind.Text, callbackGas, maxGasPrice);
        if (estimate > 100 ether) {
            vm.expectRevert(abi.encodeWithSelector(IAgentOracle.FeeBelowEstimate.selector, 100 ether, estimate));
            oracle.requestPinned{value: 100 ether}("q", IAgentOracle.Kind.Text, "", callbackGas, bytes32(0), 0, maxGasPrice, 0);
        } else {
            oracle.requestPinned{value: estimate}("q", IAgentOracle.Kind.Text, "", callbackGas, bytes32(0), 0, maxGasPrice, 0);
        }
    }

    // ------------------------------------------------------------------ re-entrancy

    function testReenteringWithdrawOrWithdrawStakePaysOnce() public {
        Reenterer node = new Reenterer(oracle);
        address[] memory list = new address[](4);
        for (uint256 i; i < 3; ++i) list[i] = vm.addr(keys[i]);
        list[3] = address(node);
        oracle.proposeNodes(list);
        vm.warp(block.timestamp + 1 days);
        oracle.applyNodes();
        node.stake{value: STAKE}();
        vm.fee(1 gwei);
        vm.txGasPrice(1 gwei);
        uint256 id = ask(IAgentOracle.Kind.Bool);
        IAgentOracle.Answer[] memory report = signed(id, range(3), same(3, abi.encode(true)));
        node.call(abi.encodeCall(IAgentOracle.unbond, ()));
        vm.prank(address(node)); // the node transmits: reimbursed into its credit
        oracle.fulfill(id, report);
        uint256 credit = oracle.credits(address(node));
        assertTrue(credit > 0, "reimbursed");
        uint256 before = address(oracle).balance;
        node.call(abi.encodeCall(IAgentOracle.withdraw, (address(node))));
        assertEq(before - address(oracle).balance, credit, "credit paid once");
        assertTrue(!node.secondOk(), "re-entry paid nothing");
        vm.warp(block.timestamp + UNBONDING);
        node.call(abi.encodeCall(IAgentOracle.withdrawStake, (address(node))));
        assertEq(address(node).balance, credit + STAKE, "stake paid once");
    }

    // ------------------------------------------------------------------ the invariant

    /// Over random sequences of request, fulfil (exact and numeric, with liars), verdicts, cancel,
    /// stake, unbond, withdraw of stake, slash and withdraw, the oracle always holds exactly what
    /// it owes: node credits + refunds + live stakes + fees of pending requests.
    function testFuzzTheBalanceIsExactlyWhatIsOwed(uint256 seed) public {
        address[4] memory others = [address(consumer), address(this), address(0x7E57), address(0x5EBF)];
        uint256[] memory ids = new uint256[](24);
        uint256 made;
        for (uint256 step; step < 24; ++step) {
            uint256 r = uint256(keccak256(abi.encode(seed, step)));
            uint256 op = r % 9;
            uint256 k = (r >> 8) % 4;
            address who = vm.addr(keys[k]);
            if (op <= 1) {
                vm.txGasPrice(((r >> 16) % 5) * 1 gwei);
                vm.fee((r >> 24) % 2 * 1 gwei);
                uint256 fee = FEE + (r >> 32) % 1e15;
                ids[made++] = consumer.ask{value: fee}("q", op == 0 ? IAgentOracle.Kind.Bool : IAgentOracle.Kind.Uint, "", 100_000);
            } else if (op == 2 && made > 0) {
                uint256 id = ids[(r >> 40) % made];
                if (status(id) != IAgentOracle.Status.Pending) continue;
                bytes[] memory vs = new bytes[](4);
                for (uint256 i; i < 4; ++i) {
                    vs[i] = oracle.requests(id).kind == IAgentOracle.Kind.Bool
                        ? abi.encode((r >> (48 + i)) % 5 != 0)
                        : abi.encode(uint256(100 + (r >> (56 + 8 * i)) % 7));
                }
                bytes memory data = abi.encodeCall(IAgentOracle.fulfill, (id, signed(id, range(4), vs)));
                vm.prank(others[(r >> 90) % 4]);
                address(oracle).call(data);
            } else if (op == 3 && made > 0) {
                uint256 id = ids[(r >> 40) % made];
                if (status(id) != IAgentOracle.Status.Pending) continue;
                bytes memory data = abi.encodeCall(IAgentOracle.settleUnanswerable, (id, verdicts(id, range(4), 3)));
                vm.prank(others[(r >> 90) % 4]);
                address(oracle).call(data);
            } else if (op == 4 && made > 0) {
                vm.warp(block.timestamp + 2 hours);
                address(oracle).call(abi.encodeCall(IAgentOracle.cancel, (ids[(r >> 40) % made])));
            } else if (op == 5) {
                bytes32 c = keccak256(abi.encode("any commitment", r));
                address(oracle).call(
                    abi.encodeCall(IAgentOracle.slash, (signedSeal(oracle, keys[k], c, "a"), signedSeal(oracle, keys[k], c, "b")))
                );
            } else if (op == 6) {
                vm.prank(who);
                address(oracle).call(abi.encodeCall(IAgentOracle.unbond, ()));
                vm.warp(block.timestamp + (r >> 40) % 2 * UNBONDING);
                vm.prank(who);
                address(oracle).call(abi.encodeCall(IAgentOracle.withdrawStake, (who)));
            } else if (op == 7) {
                vm.deal(who, who.balance + STAKE);
                vm.prank(who);
                address(oracle).call{value: STAKE}(abi.encodeCall(IAgentOracle.stake, ()));
            } else {
                address from = (r >> 40) % 2 == 0 ? who : others[(r >> 48) % 4];
                vm.prank(from);
                address(oracle).call(abi.encodeCall(IAgentOracle.withdraw, (address(0xD00D))));
            }
            _assertOwed(ids, made, others);
        }
    }

    function _assertOwed(uint256[] memory ids, uint256 made, address[4] memory others) internal view {
        uint256 owed;
        for (uint256 i; i < keys.length; ++i) {
            address node = vm.addr(keys[i]);
            IAgentOracle.NodeInfo memory info = oracle.nodeInfo(node);
            owed += oracle.credits(node);
            if (info.bond == IAgentOracle.Bond.Bonded || info.bond == IAgentOracle.Bond.Unbonding) owed += STAKE;
        }
        for (uint256 i; i < 4; ++i) owed += oracle.credits(others[i]);
        for (uint256 i; i < made; ++i) {
            if (status(ids[i]) == IAgentOracle.Status.Pending) owed += oracle.requests(ids[i]).fee;
        }
        assertEq(address(oracle).balance, owed, "balance == credits + refunds + stakes + open fees");
    }
}
