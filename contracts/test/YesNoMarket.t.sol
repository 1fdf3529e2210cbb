// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {OracleFixture} from "./utils/OracleFixture.sol";
import {IAgentOracle} from "../src/IAgentOracle.sol";
import {YesNoMarket} from "../../examples/contracts/YesNoMarket.sol";

/// The example market, attacked as the review did: locked by an early zero-fee resolve, stuck
/// after a cancel or a failed callback, or when no one bet on the winning side.
contract YesNoMarketTest is OracleFixture {
    YesNoMarket market;
    uint64 closesAt;
    uint256 constant MIN_FEE = 0.001 ether;
    address constant ALICE = address(0xA11CE0);
    address constant BOB = address(0xB0B0);
    address constant CAROL = address(0xCA401);

    function setUp() public {
        deployWith(4);
        closesAt = uint64(block.timestamp + 1 days);
        market = new YesNoMarket(address(oracle), "Is 7 a prime number?", closesAt, MIN_FEE, 100_000);
        vm.deal(ALICE, 10 ether);
        vm.deal(BOB, 10 ether);
        vm.deal(CAROL, 10 ether);
    }

    function _bet(address who, bool yes, uint256 amount) internal {
        vm.prank(who);
        market.bet{value: amount}(yes);
    }

    function _resolveBy(address who, uint256 fee) internal returns (uint256) {
        vm.prank(who);
        market.resolve{value: fee}();
        return market.requestId();
    }

    function _answer(uint256 id, bool yes) internal {
        oracle.fulfill(id, signed(id, idx(0, 1, 2), same(3, abi.encode(yes))));
    }

    function testAnEarlyOrCheapResolveCannotLockTheMarket() public {
        _bet(ALICE, true, 1 ether);
        vm.prank(CAROL);
        vm.expectRevert(abi.encodeWithSelector(YesNoMarket.NotClosed.selector, closesAt));
        market.resolve{value: MIN_FEE}();
        vm.warp(closesAt);
        vm.prank(CAROL);
        vm.expectRevert(abi.encodeWithSelector(YesNoMarket.FeeTooLow.selector, 0, MIN_FEE));
        market.resolve();
        vm.prank(BOB);
        vm.expectRevert(abi.encodeWithSelector(YesNoMarket.BettingClosed.selector, closesAt));
        market.bet{value: 1 ether}(false); // no bets once the question can be asked
    }

    function testResolvesAndPaysWinners() public {
        _bet(ALICE, true, 1 ether);
        _bet(BOB, false, 3 ether);
        vm.warp(closesAt);
        uint256 id = _resolveBy(CAROL, MIN_FEE);
        vm.prank(ALICE);
        vm.expectRevert(abi.encodeWithSelector(YesNoMarket.StillAsking.selector, id));
        market.resolve{value: MIN_FEE}(); // one question at a time
        _answer(id, true);
        assertTrue(market.resolved() && market.outcome(), "resolved yes");
        uint256 before = ALICE.balance;
        vm.prank(ALICE);
        market.claim();
        assertEq(ALICE.balance - before, 4 ether, "winner takes the pot");
        vm.prank(BOB);
        vm.expectRevert(YesNoMarket.NothingToClaim.selector);
        market.claim();
    }

    function testAskAgainAfterACancelAndTheFirstPayerIsRefunded() public {
        _bet(ALICE, true, 1 ether);
        vm.warp(closesAt);
        uint256 first = _resolveBy(CAROL, MIN_FEE);
        vm.warp(block.timestamp + 1 hours + 1);
        oracle.cancel(first);
        uint256 second = _resolveBy(BOB, MIN_FEE);
        assertTrue(second != first, "asked again");
        uint256 before = CAROL.balance;
        vm.prank(CAROL);
        market.claimFeeRefund();
        assertEq(CAROL.balance - before, MIN_FEE, "the cancelled request's fee back to its payer");
        _answer(second, true);
        assertTrue(market.resolved(), "resolved by the second request");
    }

    function testAskAgainAfterAnUnanswerableVerdict() public {
        vm.warp(closesAt);
        uint256 first = _resolveBy(CAROL, MIN_FEE);
        oracle.settleUnanswerable(first, verdicts(first, idx(0, 1, 2), 3));
        uint256 second = _resolveBy(BOB, MIN_FEE);
        assertTrue(second != first, "asked again at once");
    }

    function testAskAgainAfterAFailedCallback() public {
        YesNoMarket starved = new YesNoMarket(address(oracle), "Is 7 a prime number?", closesAt, MIN_FEE, 1_000);
        vm.warp(closesAt);
        vm.prank(CAROL);
        starved.resolve{value: MIN_FEE}();
        uint256 first = starved.requestId();
        _answer(first, true); // the callback runs out of its 1000 gas
        assertTrue(status(first) == IAgentOracle.Status.Fulfilled && !starved.resolved(), "fulfilled, not resolved");
        vm.prank(BOB);
        starved.resolve{value: MIN_FEE}();
        assertTrue(starved.requestId() != first, "asked again");
    }

    function testNoOneBetOnTheWinnerEveryoneTakesTheirStakeBack() public {
        _bet(ALICE, false, 1 ether);
        _bet(BOB, false, 2 ether);
        vm.warp(closesAt);
        _answer(_resolveBy(CAROL, MIN_FEE), true);
        uint256 a = ALICE.balance;
        uint256 b = BOB.balance;
        vm.prank(ALICE);
        market.claim();
        vm.prank(BOB);
        market.claim();
        assertEq(ALICE.balance - a, 1 ether, "alice refunded");
        assertEq(BOB.balance - b, 2 ether, "bob refunded");
        assertEq(address(market).balance, 0, "nothing left locked");
    }
}
