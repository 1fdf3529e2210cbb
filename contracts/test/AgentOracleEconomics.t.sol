// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {OracleFixture} from "./utils/OracleFixture.sol";
import {AgentOracle} from "../src/AgentOracle.sol";
import {IAgentOracle} from "../src/IAgentOracle.sol";

/// Fees, reimbursement, who gets paid, stake and slashing; each written as the attack.
contract AgentOracleEconomicsTest is OracleFixture {
    error Off(uint256 reimbursedGas, uint256 usedGas);

    function setUp() public {
        deployWith(4); // f = 1, quorum 3
    }

    function _credit(uint256 i) internal view returns (uint256) {
        return oracle.nodeInfo(vm.addr(keys[i])).credit;
    }

    // ------------------------------------------------------------------ fees

    function testFuzzAFeeBelowTheEstimateIsRefused(uint32 callbackGas, uint64 gasPrice, uint96 fee) public {
        callbackGas = uint32(_bound(callbackGas, 0, 2_000_000));
        gasPrice = uint64(_bound(gasPrice, 0, 1_000 gwei));
        uint256 estimate = oracle.estimateFee(IAgentOracle.Kind.Text, callbackGas, gasPrice);
        assertEq(estimate, (60_000 + 30_000 * 4 + 3_000 * 4 + uint256(callbackGas)) * gasPrice + 4e12, "the published formula");
        fee = uint96(_bound(fee, 0, 10 ether));
        if (fee < estimate) {
            vm.expectRevert(abi.encodeWithSelector(IAgentOracle.FeeBelowEstimate.selector, fee, estimate));
        }
        oracle.requestPinned{value: fee}("q", IAgentOracle.Kind.Text, "", callbackGas, bytes32(0), 0, gasPrice, 0);
    }

    function testAZeroFeeIsRefusedAndTheDefaultBoundIsTheRequestsGasPrice() public {
        vm.expectRevert(abi.encodeWithSelector(IAgentOracle.FeeBelowEstimate.selector, 0, 4e12));
        oracle.request("q", IAgentOracle.Kind.Bool, "", 0);
        vm.txGasPrice(3 gwei);
        uint256 estimate = oracle.estimateFee(IAgentOracle.Kind.Bool, 50_000, 3 gwei);
        vm.expectRevert(abi.encodeWithSelector(IAgentOracle.FeeBelowEstimate.selector, estimate - 1, estimate));
        oracle.request{value: estimate - 1}("q", IAgentOracle.Kind.Bool, "", 50_000);
        uint256 id = oracle.request{value: estimate}("q", IAgentOracle.Kind.Bool, "", 50_000);
        assertEq(oracle.requests(id).maxGasPrice, 3 gwei, "bound stored");
    }

    /// The transmitter's real cost (execution + 21000 + calldata) is reimbursed within 10%, at
    /// the lowest of its price, the request's bound and basefee + 2 gwei; the rest reaches the nodes.
    function testFuzzTheTransmitterIsReimbursedItsGas(uint8 extra, uint64 txPrice) public {
        vm.fee(1 gwei);
        vm.txGasPrice(5 gwei);
        uint256 id = ask(IAgentOracle.Kind.Bool); // bound: 5 gwei
        txPrice = uint64(_bound(txPrice, 1 gwei, 50 gwei));
        uint256 n = 3 + (extra % 2);
        IAgentOracle.Answer[] memory a = signed(id, range(n), same(n, abi.encode(true)));
        bytes memory data = abi.encodeCall(IAgentOracle.fulfill, (id, a));
        address transmitter = address(0x7E57);
        vm.txGasPrice(txPrice);
        vm.cool(address(oracle)); // as in a transaction of its own: cold storage
        vm.prank(transmitter);
        uint256 before = gasleft();
        (bool ok,) = address(oracle).call(data);
        uint256 used = before - gasleft();
        used += 21_000 + _calldataGas(data) - 2_600; // a transaction's own `to` is warm: no cold CALL
        assertTrue(ok, "fulfilled");
        uint256 price = txPrice < 3 gwei ? txPrice : 3 gwei; // basefee + 2 gwei < the bound of 5
        uint256 reimbursed = oracle.credits(transmitter);
        if (reimbursed * 10 > used * price * 11 || reimbursed * 10 < used * price * 9) {
            revert Off(reimbursed / price, used);
        }
        uint256 paid;
        for (uint256 i; i < 4; ++i) paid += _credit(i);
        assertEq(paid + reimbursed, FEE, "every wei: reimbursement + node shares");
    }

    function _calldataGas(bytes memory data) internal pure returns (uint256 g) {
        for (uint256 i; i < data.length; ++i) g += data[i] == 0 ? 4 : 16;
    }

    function testReimbursementIsCappedByTheFee() public {
        vm.txGasPrice(1 gwei);
        uint256 fee = oracle.estimateFee(IAgentOracle.Kind.Bool, 0, 1 gwei);
        uint256 id = oracle.request{value: fee}("q", IAgentOracle.Kind.Bool, "", 0);
        vm.fee(100 gwei);
        vm.txGasPrice(200 gwei); // the transmitter overpays: reimbursed at the request's bound only
        address transmitter = address(0x7E57);
        vm.prank(transmitter);
        oracle.fulfill(id, signed(id, range(3), same(3, abi.encode(true))));
        assertTrue(oracle.credits(transmitter) < fee, "priced at the 1 gwei bound, not 200");
    }

    // ------------------------------------------------------------------ who is paid

    /// All four nodes sealed the same answer; the transmitter needs only three for a quorum but
    /// every matching node of the report is paid the same share.
    function testEveryMatchingCommittedNodeIsPaid() public {
        uint256 id = ask(IAgentOracle.Kind.Bool);
        oracle.fulfill(id, signed(id, range(4), same(4, abi.encode(true))));
        for (uint256 i; i < 4; ++i) {
            assertEq(_credit(i), FEE / 4, "equal share");
            IAgentOracle.NodeInfo memory info = oracle.nodeInfo(vm.addr(keys[i]));
            assertEq(info.answered, 1, "answered");
            assertEq(info.agreed, 1, "agreed");
        }
    }

    /// Node 3 answered false: counted as answered, not paid.
    function testANodeThatDidNotMatchIsUnpaid() public {
        uint256 id = ask(IAgentOracle.Kind.Bool);
        bytes[] memory vs = same(4, abi.encode(true));
        vs[3] = abi.encode(false);
        oracle.fulfill(id, signed(id, range(4), vs));
        assertEq(_credit(3), 0, "mismatch unpaid");
        for (uint256 i; i < 3; ++i) assertEq(_credit(i), FEE / 3, "the three that agreed share it");
        IAgentOracle.NodeInfo memory info = oracle.nodeInfo(vm.addr(keys[3]));
        assertEq(info.answered, 1, "answered");
        assertEq(info.agreed, 0, "did not agree");
    }

    /// A copier has no answer when seals are exchanged: it seals something, then tries to open
    /// it with a peer's revealed answer (with its own salt, or with the peer's salt too), or
    /// re-signs the peer's seal as its own. None of these opens: it earns nothing.
    function testACopierEarnsNothing() public {
        uint256 id = ask(IAgentOracle.Kind.Bool);
        bytes32 c = commitment(id);
        IAgentOracle.Answer[] memory honest = signed(id, range(3), same(3, abi.encode(true)));
        IAgentOracle.Answer memory peer = answer(oracle, keys[0], c, abi.encode(true));
        for (uint256 attempt; attempt < 3; ++attempt) {
            uint256 snap = vm.snapshotState();
            bytes32 seal = attempt == 2 ? peer.seal : keccak256("a guess, sealed before any reveal");
            (uint8 v, bytes32 r, bytes32 s) = vm.sign(keys[3], oracle.commitDigest(c, seal, MODEL));
            bytes32 salt = attempt == 0 ? saltOf(keys[3], c) : peer.salt;
            IAgentOracle.Answer memory copier = IAgentOracle.Answer(seal, MODEL, abi.encodePacked(r, s, v), abi.encode(true), salt);
            oracle.fulfill(id, _with(honest, copier, vm.addr(keys[3])));
            assertEq(_credit(3), 0, "the copier is unpaid");
            assertEq(_credit(0), FEE / 3, "the honest are paid in full");
            vm.revertToState(snap);
        }
    }

    /// A reveal that is not the sealed answer (a node changing its mind after seeing others) counts
    /// as no reveal: the result needs a quorum of reveals that open their seals.
    function testAChangedRevealDoesNotCount() public {
        uint256 id = ask(IAgentOracle.Kind.Bool);
        IAgentOracle.Answer[] memory a = signed(id, range(3), same(3, abi.encode(false)));
        a[0].value = abi.encode(true);
        a[1].value = abi.encode(true);
        vm.expectRevert(abi.encodeWithSelector(IAgentOracle.QuorumNotMet.selector, 1, 3));
        oracle.fulfill(id, a);
    }

    /// A node that sealed but never revealed is in the report (answered) and unpaid.
    function testASealWithoutARevealIsUnpaid() public {
        uint256 id = ask(IAgentOracle.Kind.Bool);
        IAgentOracle.Answer[] memory a = signed(id, range(4), same(4, abi.encode(true)));
        address quiet = vm.addr(keys[2]);
        for (uint256 i; i < 4; ++i) {
            if (_signerOf(id, a[i]) == quiet) (a[i].value, a[i].salt) = ("", bytes32(0));
        }
        oracle.fulfill(id, a);
        assertEq(oracle.nodeInfo(quiet).credit, 0, "unrevealed: unpaid");
        assertEq(oracle.nodeInfo(quiet).answered, 1, "but counted as answered");
    }

    /// Numeric kinds: seven nodes, two liars far outside; every honest observation lies in the
    /// band [x_f, x_(r-1-f)] and is paid; the liars are not (whatever their values).
    function testFuzzNumericPaysTheHonestBand(uint64[5] memory honest, uint256 lie1, uint256 lie2) public {
        deployWith(7);
        uint256 id = ask(IAgentOracle.Kind.Uint);
        uint256 lo = type(uint256).max;
        uint256 hi;
        bytes[] memory vs = new bytes[](7);
        for (uint256 i; i < 5; ++i) {
            vs[i] = abi.encode(uint256(honest[i]));
            if (honest[i] < lo) lo = honest[i];
            if (honest[i] > hi) hi = honest[i];
        }
        (vs[5], vs[6]) = (abi.encode(lie1), abi.encode(lie2));
        oracle.fulfill(id, signed(id, range(7), vs));
        uint256 m = abi.decode(consumer.results(id), (uint256));
        assertTrue(m >= lo && m <= hi, "median within the honest values");
        for (uint256 i = 5; i < 7; ++i) {
            uint256 lie = i == 5 ? lie1 : lie2;
            if (lie < lo || lie > hi) assertEq(_credit(i), 0, "a liar outside the honest range is unpaid");
        }
        uint256 paid;
        for (uint256 i; i < 7; ++i) if (_credit(i) > 0) ++paid;
        assertTrue(paid >= 3, "at least r - 2f observations are paid");
    }

    function testNumericLiarsAreUnpaid() public {
        deployWith(7);
        uint256 id = ask(IAgentOracle.Kind.Uint);
        bytes[] memory vs = new bytes[](7);
        for (uint256 i; i < 5; ++i) vs[i] = abi.encode(uint256(i < 2 ? 100 : 101)); // close honest answers
        (vs[5], vs[6]) = (abi.encode(uint256(0)), abi.encode(uint256(1e30)));
        oracle.fulfill(id, signed(id, range(7), vs));
        for (uint256 i; i < 5; ++i) assertEq(_credit(i), FEE / 5, "honest paid");
        assertEq(_credit(5) + _credit(6), 0, "liars unpaid");
    }

    // ------------------------------------------------------------------ stake and slashing

    function testAnUnstakedNodeDoesNotSign() public {
        address[] memory nodes = new address[](4);
        for (uint256 i; i < 4; ++i) nodes[i] = vm.addr(keys[i]);
        AgentOracle o = new AgentOracle(nodes, params(), STAKE, UNBONDING);
        vm.deal(nodes[0], STAKE);
        vm.expectRevert(abi.encodeWithSelector(IAgentOracle.WrongStake.selector, STAKE - 1, STAKE));
        vm.prank(nodes[0]);
        o.stake{value: STAKE - 1}();
        assertTrue(!o.isSignerOf(nodes[0], 1), "registered but unstaked: not a signer");
        stakeAs(o, keys[0]);
        assertTrue(o.isSignerOf(nodes[0], 1), "staked: a signer");
    }

    function testDoubleSigningIsSlashedOnceAndTheReporterPaid() public {
        uint256 id = ask(IAgentOracle.Kind.Bool);
        bytes32 c = commitment(id);
        address liar = vm.addr(keys[1]);
        IAgentOracle.SignedCommit memory yes = signedSeal(oracle, keys[1], c, abi.encode(true));
        IAgentOracle.SignedCommit memory no = signedSeal(oracle, keys[1], c, abi.encode(false));
        address reporter = address(0xBEEF);
        vm.prank(reporter);
        oracle.slash(yes, no);
        assertEq(oracle.credits(reporter), STAKE / 2, "reporter paid half the stake");
        assertEq(oracle.credits(address(this)), STAKE - STAKE / 2, "the rest to the owner");
        IAgentOracle.NodeInfo memory info = oracle.nodeInfo(liar);
        assertTrue(info.bond == IAgentOracle.Bond.Slashed && info.slashed == 1, "slashed, visible");
        assertTrue(!oracle.isSignerOf(liar, 1), "no longer signs");

        vm.expectRevert(abi.encodeWithSelector(IAgentOracle.NotBonded.selector, liar));
        vm.prank(reporter);
        oracle.slash(no, yes); // the same evidence again, reversed
        IAgentOracle.SignedCommit memory other = signedSeal(oracle, keys[1], c, abi.encode(uint256(7)));
        vm.expectRevert(abi.encodeWithSelector(IAgentOracle.NotBonded.selector, liar));
        oracle.slash(yes, other); // or new evidence
        assertEq(oracle.credits(reporter), STAKE / 2, "paid once");

        IAgentOracle.Answer[] memory withLiar = signed(id, range(3), same(3, abi.encode(true)));
        vm.expectRevert(abi.encodeWithSelector(IAgentOracle.QuorumNotMet.selector, 2, 3));
        oracle.fulfill(id, withLiar); // the slashed node's entry no longer counts
        vm.expectRevert(abi.encodeWithSelector(IAgentOracle.NotUnbonding.selector, liar));
        vm.prank(liar);
        oracle.withdrawStake(liar); // a slashed node's stake is gone
        vm.deal(liar, STAKE);
        vm.expectRevert(abi.encodeWithSelector(IAgentOracle.AlreadyStaked.selector, liar));
        vm.prank(liar);
        oracle.stake{value: STAKE}(); // and the address cannot come back
    }

    function testWhatIsNotEquivocationIsNotSlashed() public {
        uint256 id = ask(IAgentOracle.Kind.Bool);
        uint256 id2 = ask(IAgentOracle.Kind.Bool);
        IAgentOracle.SignedCommit memory a = signedSeal(oracle, keys[0], commitment(id), abi.encode(true));
        IAgentOracle.SignedCommit memory otherRequest = signedSeal(oracle, keys[0], commitment(id2), abi.encode(false));
        IAgentOracle.SignedCommit memory otherNode = signedSeal(oracle, keys[1], commitment(id), abi.encode(false));
        vm.expectRevert(IAgentOracle.NotEquivocation.selector);
        oracle.slash(a, a); // the same seal twice
        vm.expectRevert(IAgentOracle.NotEquivocation.selector);
        oracle.slash(a, otherRequest); // two requests
        vm.expectRevert(IAgentOracle.NotEquivocation.selector);
        oracle.slash(a, otherNode); // two nodes
        IAgentOracle.SignedCommit memory forged = signedSeal(oracle, 0xBAD, commitment(id), abi.encode(false));
        forged.signature = a.signature; // a's signature over another seal: recovers to someone else
        vm.expectRevert();
        oracle.slash(a, forged);
        assertTrue(oracle.nodeInfo(vm.addr(keys[0])).bond == IAgentOracle.Bond.Bonded, "still bonded");
    }

    function testUnbondingDelayIsEnforcedAndANodeStaysSlashableMeanwhile() public {
        address node = vm.addr(keys[0]);
        vm.prank(node);
        oracle.unbond();
        uint64 due = uint64(block.timestamp) + UNBONDING;
        assertEq(oracle.nodeInfo(node).unbondAt, due, "due date visible");
        vm.warp(due - 1);
        vm.expectRevert(abi.encodeWithSelector(IAgentOracle.UnbondingNotDue.selector, due));
        vm.prank(node);
        oracle.withdrawStake(node);
        uint256 id = consumer.askPinned{value: FEE}("q", IAgentOracle.Kind.Bool, bytes32(0), 0);
        oracle.fulfill(id, signed(id, range(4), same(4, abi.encode(true))));
        assertEq(_credit(0), 0, "an unbonding node no longer counts (it stays slashable: next test)");
        vm.warp(due);
        uint256 before = node.balance;
        vm.prank(node);
        oracle.withdrawStake(node);
        assertEq(node.balance - before, STAKE, "stake back after the delay");
        assertTrue(!oracle.isSignerOf(node, 1), "no stake, no signature");
    }

    function testAnUnbondingNodeIsSlashedAndCannotWithdraw() public {
        address node = vm.addr(keys[0]);
        vm.prank(node);
        oracle.unbond();
        uint256 id = ask(IAgentOracle.Kind.Bool);
        bytes32 c = commitment(id);
        oracle.slash(signedSeal(oracle, keys[0], c, abi.encode(true)), signedSeal(oracle, keys[0], c, abi.encode(false)));
        assertTrue(oracle.nodeInfo(node).bond == IAgentOracle.Bond.Slashed, "slashed while unbonding");
        vm.warp(block.timestamp + UNBONDING);
        vm.expectRevert(abi.encodeWithSelector(IAgentOracle.NotUnbonding.selector, node));
        vm.prank(node);
        oracle.withdrawStake(node);
    }

    function testEarnedCreditSurvivesSlashingButTheStakeDoesNot() public {
        uint256 id = ask(IAgentOracle.Kind.Bool);
        oracle.fulfill(id, signed(id, range(3), same(3, abi.encode(true))));
        uint256 id2 = ask(IAgentOracle.Kind.Bool);
        bytes32 c = commitment(id2);
        oracle.slash(signedSeal(oracle, keys[0], c, abi.encode(true)), signedSeal(oracle, keys[0], c, abi.encode(false)));
        address node = vm.addr(keys[0]);
        uint256 before = node.balance;
        vm.prank(node);
        oracle.withdraw(node);
        assertEq(node.balance - before, FEE / 3, "its past fee share, not its stake");
        assertEq(address(oracle).balance, 4 * STAKE + 2 * FEE - FEE / 3, "the slashed stake stays until pulled");
    }

    // ------------------------------------------------------------------ helpers

    function _signerOf(uint256 id, IAgentOracle.Answer memory a) internal view returns (address) {
        bytes memory sig = a.signature;
        bytes32 r;
        bytes32 s;
        assembly {
            r := mload(add(sig, 32))
            s := mload(add(sig, 64))
        }
        return ecrecover(oracle.commitDigest(commitment(id), a.seal, a.modelId), uint8(sig[64]), r, s);
    }

    /// The three honest entries plus `extra` (signed by `who`), in signer order.
    function _with(IAgentOracle.Answer[] memory three, IAgentOracle.Answer memory extra, address who)
        internal
        view
        returns (IAgentOracle.Answer[] memory out)
    {
        out = new IAgentOracle.Answer[](4);
        uint256 k;
        bool placed;
        for (uint256 i; i < 3; ++i) {
            address s = vm.addr(keys[_indexOf(three, i)]);
            if (!placed && who < s) {
                out[k++] = extra;
                placed = true;
            }
            out[k++] = three[i];
        }
        if (!placed) out[k] = extra;
    }

    function _indexOf(IAgentOracle.Answer[] memory three, uint256 i) internal view returns (uint256) {
        bytes32 c = commitment(1);
        for (uint256 k; k < keys.length; ++k) {
            if (three[i].seal == keccak256(abi.encode(keccak256(three[i].value), three[i].salt, vm.addr(keys[k]), c))) return k;
        }
        revert("not an honest entry");
    }
}
