// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {OracleFixture} from "./utils/OracleFixture.sol";
import {AgentOracle} from "../src/AgentOracle.sol";
import {IAgentOracle} from "../src/IAgentOracle.sol";

/// The fault model (n >= 3f+1, quorum a Byzantine majority, f liars cannot steer the median),
/// registry epochs, the timelock and two-step ownership: the owner cannot capture a request.
contract AgentOracleRegistryTest is OracleFixture {
    function setUp() public {
        deployWith(7); // f = 2, quorum 5
    }

    function _registry(uint256 from, uint256 count) internal view returns (address[] memory list) {
        list = new address[](count);
        for (uint256 i; i < count; ++i) list[i] = vm.addr(0xA11CE + from + i);
    }

    // ------------------------------------------------------------------ fault model

    function testSevenNodesTolerateTwo() public view {
        assertEq(oracle.f(), 2, "f");
        assertEq(oracle.quorum(), 5, "quorum 2f+1");
    }

    /// Every registry size: n >= 3f+1, the quorum is a strict majority, two quorums share more
    /// than f nodes (so an honest one), and the honest nodes alone can reach it.
    function testFuzzEveryRegistrySizeKeepsAByzantineQuorum(uint8 size) public {
        uint256 n = bound(size, 1, 31);
        AgentOracle o = new AgentOracle(_registry(100, n), params(), STAKE, UNBONDING);
        uint256 f_ = o.f();
        uint256 q = o.quorum();
        assertTrue(n >= 3 * f_ + 1, "n >= 3f+1");
        assertTrue(n < 3 * (f_ + 1) + 1, "f is the largest tolerable");
        assertTrue(2 * q > n, "a strict majority");
        assertTrue(2 * q > n + f_, "two quorums share an honest node");
        assertTrue(q <= n - f_, "live without the f faulty");
        assertTrue(q >= 2 * f_ + 1, "at least 2f+1");
    }

    function testRegistrySizeBounds() public {
        vm.expectRevert(abi.encodeWithSelector(IAgentOracle.BadRegistry.selector, 0));
        new AgentOracle(new address[](0), params(), STAKE, UNBONDING);
        vm.expectRevert(abi.encodeWithSelector(IAgentOracle.BadRegistry.selector, 32));
        new AgentOracle(_registry(0, 32), params(), STAKE, UNBONDING);
        address[] memory dup = _registry(0, 4);
        dup[3] = dup[1];
        vm.expectRevert(abi.encodeWithSelector(IAgentOracle.DuplicateNode.selector, dup[1]));
        new AgentOracle(dup, params(), STAKE, UNBONDING);
    }

    /// The review's attack: with 7 nodes an even quorum of 4 let two Byzantine nodes set the median.
    function testFourOfSevenIsNotAQuorum() public {
        uint256 id = ask(IAgentOracle.Kind.Uint);
        uint256[] memory four = range(4);
        IAgentOracle.Answer[] memory a = signed(id, four, same(4, abi.encode(uint256(8))));
        vm.expectRevert(abi.encodeWithSelector(IAgentOracle.QuorumNotMet.selector, 4, 5));
        oracle.fulfill(id, a);
    }

    /// Two liars (any values, any positions) among the observations: whatever subset of at least
    /// a quorum the transmitter picks, the median stays within the honest answers.
    function testFuzzTwoLiarsCannotMoveTheMedianOutsideTheHonestRange(
        uint64[5] memory honest,
        uint256 lie1,
        uint256 lie2,
        uint8 extra
    ) public {
        uint256 id = ask(IAgentOracle.Kind.Uint);
        uint256 n = 5 + (extra % 3); // 5, 6 or 7 observations, always including both liars
        uint256[] memory who = new uint256[](n);
        bytes[] memory vs = new bytes[](n);
        uint256 lo = type(uint256).max;
        uint256 hi;
        for (uint256 i; i < n; ++i) {
            who[i] = i;
            uint256 x;
            if (i == 0) x = lie1;
            else if (i == 1) x = lie2;
            else {
                x = honest[i - 2];
                if (x < lo) lo = x;
                if (x > hi) hi = x;
            }
            vs[i] = abi.encode(x);
        }
        oracle.fulfill(id, signed(id, who, vs));
        uint256 m = abi.decode(consumer.results(id), (uint256));
        assertTrue(m >= lo && m <= hi, "median within the honest answers");
    }

    function testFuzzTwoLiarsCannotMoveTheSignedMedian(int64[3] memory honest, int256 lie1, int256 lie2) public {
        uint256 id = ask(IAgentOracle.Kind.Int);
        bytes[] memory vs = new bytes[](5);
        (vs[0], vs[1]) = (abi.encode(lie1), abi.encode(lie2));
        int256 lo = type(int256).max;
        int256 hi = type(int256).min;
        for (uint256 i; i < 3; ++i) {
            vs[i + 2] = abi.encode(int256(honest[i]));
            if (honest[i] < lo) lo = honest[i];
            if (honest[i] > hi) hi = honest[i];
        }
        oracle.fulfill(id, signed(id, range(5), vs));
        int256 m = abi.decode(consumer.results(id), (int256));
        assertTrue(m >= lo && m <= hi, "median within the honest answers");
    }

    /// Non-numeric kinds: two liars plus three honest cannot agree on the liars' value.
    function testTwoLiarsCannotReachAQuorumOnTheirAnswer() public {
        uint256 id = ask(IAgentOracle.Kind.Bool);
        bytes[] memory vs = same(5, abi.encode(false));
        vs[2] = abi.encode(true); // the honest answer, among four copies of the lie
        IAgentOracle.Answer[] memory a = signed(id, range(5), vs);
        vm.expectRevert();
        oracle.fulfill(id, a);
    }

    // ------------------------------------------------------------------ epochs and the timelock

    /// A request that outlives one timelock delay.
    function askLong(IAgentOracle.Kind kind) internal returns (uint256) {
        return consumer.askPinned{value: FEE}("Is 7 a prime number?", kind, bytes32(0), 1 days);
    }

    function _grow() internal returns (address[] memory list) {
        list = new address[](10);
        for (uint256 i; i < 7; ++i) list[i] = vm.addr(keys[i]);
        for (uint256 i; i < 3; ++i) {
            keys.push(0xE711 + i); // the owner's own keys
            list[7 + i] = vm.addr(keys[7 + i]);
            stakeAs(oracle, keys[7 + i]); // staked, even: the epoch alone keeps them out
        }
    }

    /// The review's attack: the owner adds its own keys and fulfils a pending request with them.
    function testTheOwnerCannotCaptureAPendingRequest() public {
        uint256 id = askLong(IAgentOracle.Kind.Bool);
        oracle.proposeNodes(_grow());
        vm.expectRevert(abi.encodeWithSelector(IAgentOracle.ProposalNotDue.selector, uint64(block.timestamp + 1 days)));
        oracle.applyNodes(); // not at once: the change waits out the delay, visible onchain
        (address[] memory pending, uint64 eta) = oracle.pendingNodes();
        assertEq(pending.length, 10, "proposal visible");
        assertEq(eta, block.timestamp + 1 days, "eta visible");

        vm.warp(block.timestamp + 1 days);
        oracle.applyNodes();
        assertEq(oracle.epoch(), 2, "a new epoch");
        assertEq(oracle.quorum(), 7, "quorum of ten");
        // the pending request still belongs to epoch 1: the owner's keys (7, 8, 9) are not its signers
        uint256[] memory mix = new uint256[](5);
        (mix[0], mix[1], mix[2], mix[3], mix[4]) = (0, 1, 7, 8, 9);
        IAgentOracle.Answer[] memory a = signed(id, mix, same(5, abi.encode(false)));
        vm.expectRevert();
        oracle.fulfill(id, a);
        assertTrue(!oracle.isSignerOf(vm.addr(keys[7]), 1) && oracle.isSignerOf(vm.addr(keys[7]), 2), "new keys sign epoch 2 only");
        // ...and the epoch-1 nodes still settle it with its own quorum of five
        oracle.fulfill(id, signed(id, range(5), same(5, abi.encode(true))));
        assertEq(consumer.results(id), abi.encode(true), "settled by its own epoch");
    }

    function testRemovedNodesStillSignTheirEpochButNotLaterRequests() public {
        uint256 old = askLong(IAgentOracle.Kind.Bool);
        address[] memory four = new address[](4);
        for (uint256 i; i < 4; ++i) four[i] = vm.addr(keys[3 + i]); // nodes 0, 1, 2 leave
        oracle.proposeNodes(four);
        vm.warp(block.timestamp + 1 days);
        oracle.applyNodes();
        uint256 fresh = ask(IAgentOracle.Kind.Bool);
        assertEq(oracle.requests(fresh).quorum, 3, "quorum of the new epoch stored with the request");
        IAgentOracle.Answer[] memory a = signed(fresh, idx(0, 3, 4), same(3, abi.encode(true)));
        vm.expectRevert(abi.encodeWithSelector(IAgentOracle.UnknownSigner.selector, vm.addr(keys[0])));
        oracle.fulfill(fresh, a);
        oracle.fulfill(fresh, signed(fresh, idx(3, 4, 5), same(3, abi.encode(true))));
        oracle.fulfill(old, signed(old, range(5), same(5, abi.encode(true))));
        assertTrue(status(old) == IAgentOracle.Status.Fulfilled, "the old epoch's quorum still counts for its request");
    }

    function testANodeBackAfterAGapDoesNotSignForTheGap() public {
        address[] memory four = new address[](4);
        for (uint256 i; i < 4; ++i) four[i] = vm.addr(keys[i]);
        oracle.proposeNodes(four); // epoch 2: nodes 4..6 leave
        vm.warp(block.timestamp + 1 days);
        oracle.applyNodes();
        uint256 gap = askLong(IAgentOracle.Kind.Bool);
        oracle.proposeNodes(_registry(0, 7)); // epoch 3: they come back
        vm.warp(block.timestamp + 1 days);
        oracle.applyNodes();
        assertTrue(!oracle.isSignerOf(vm.addr(keys[4]), 2), "not a signer of the gap");
        assertTrue(oracle.isSignerOf(vm.addr(keys[0]), 1) && oracle.isSignerOf(vm.addr(keys[0]), 3), "stayers sign throughout");
        IAgentOracle.Answer[] memory a = signed(gap, idx(0, 1, 4), same(3, abi.encode(true)));
        vm.expectRevert(abi.encodeWithSelector(IAgentOracle.UnknownSigner.selector, vm.addr(keys[4])));
        oracle.fulfill(gap, a);
    }

    function testOnlyTheOwnerProposesAndAnyoneAppliesWhenDue() public {
        vm.prank(address(0xBEEF));
        vm.expectRevert(IAgentOracle.NotOwner.selector);
        oracle.proposeNodes(_registry(0, 4));
        vm.prank(address(0xBEEF));
        vm.expectRevert(IAgentOracle.NotOwner.selector);
        oracle.proposeParams(params());
        vm.expectRevert(IAgentOracle.NoProposal.selector);
        oracle.applyNodes();
        oracle.proposeNodes(_registry(0, 4));
        vm.warp(block.timestamp + 1 days);
        vm.prank(address(0xBEEF));
        oracle.applyNodes();
        assertEq(oracle.nodes().length, 4, "applied by anyone once due");
    }

    function testTheOwnerCanWithdrawAProposal() public {
        oracle.proposeNodes(_registry(0, 4));
        oracle.cancelProposal(true);
        vm.warp(block.timestamp + 1 days);
        vm.expectRevert(IAgentOracle.NoProposal.selector);
        oracle.applyNodes();
    }

    function testParameterChangesWaitOutTheDelay() public {
        IAgentOracle.Params memory p = params();
        p.maxTimeout = 2 days;
        oracle.proposeParams(p);
        vm.expectRevert();
        oracle.applyParams();
        vm.warp(block.timestamp + 1 days);
        oracle.applyParams();
        assertEq(oracle.params().maxTimeout, 2 days, "applied");
    }

    /// The review's attack: a default timeout that breaks `request`. No parameter set that
    /// leaves requests unusable or unbounded is accepted.
    function testFuzzParamsThatBreakRequestsAreRefused(uint32 minT, uint32 defT, uint32 maxT, uint32 delay) public {
        IAgentOracle.Params memory p = params();
        (p.minTimeout, p.defaultTimeout, p.maxTimeout, p.delay) = (minT, defT, maxT, delay);
        bool ok = minT > 0 && minT <= defT && defT <= maxT && maxT <= 30 days && delay <= 30 days;
        if (!ok) vm.expectRevert(IAgentOracle.BadParams.selector);
        oracle.proposeParams(p);
        if (ok) {
            vm.warp(block.timestamp + 1 days);
            oracle.applyParams();
            uint256 id = ask(IAgentOracle.Kind.Bool); // the default still works
            assertEq(oracle.requests(id).deadline, block.timestamp + defT, "deadline from the default");
        }
    }

    // ------------------------------------------------------------------ ownership

    function testOwnershipMovesInTwoSteps() public {
        address next = address(0xA0A0);
        oracle.transferOwnership(next);
        assertEq(oracle.owner(), address(this), "not yet");
        assertEq(oracle.pendingOwner(), next, "pending");
        vm.prank(address(0xBEEF));
        vm.expectRevert(IAgentOracle.NotPendingOwner.selector);
        oracle.acceptOwnership();
        vm.prank(next);
        oracle.acceptOwnership();
        assertEq(oracle.owner(), next, "moved");
        assertEq(oracle.pendingOwner(), address(0), "cleared");
        vm.expectRevert(IAgentOracle.NotOwner.selector);
        oracle.proposeNodes(_registry(0, 4));
    }

    function testATypoInTheNewOwnerCanBeUndone() public {
        oracle.transferOwnership(address(0xDEAD));
        oracle.transferOwnership(address(0));
        vm.prank(address(0xDEAD));
        vm.expectRevert(IAgentOracle.NotPendingOwner.selector);
        oracle.acceptOwnership();
    }

    function bound(uint256 x, uint256 lo, uint256 hi) internal pure returns (uint256) {
        return lo + (x % (hi - lo + 1));
    }
}
