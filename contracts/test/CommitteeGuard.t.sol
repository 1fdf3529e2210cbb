// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Test} from "./utils/Test.sol";
import {CommitteeGuard} from "../src/CommitteeGuard.sol";
import {DemoToken} from "../src/DemoToken.sol";
import {Enum} from "@safe-global/safe-contracts/contracts/common/Enum.sol";

/// Cheatcodes beyond utils/Test.sol that only these tests need.
interface VmCode {
    function getCode(string calldata artifactPath) external view returns (bytes memory);
}

/// The audited Safe 1.4.1 as deployed from npm's published bytecode: only what the tests call.
interface ISafe {
    function setup(address[] calldata, uint256, address, bytes calldata, address, address, uint256, address payable) external;
    function execTransaction(address to, uint256 value, bytes calldata data, uint8 operation, uint256 safeTxGas,
        uint256 baseGas, uint256 gasPrice, address gasToken, address payable refundReceiver, bytes memory signatures)
        external payable returns (bool);
    function getTransactionHash(address to, uint256 value, bytes calldata data, uint8 operation, uint256 safeTxGas,
        uint256 baseGas, uint256 gasPrice, address gasToken, address refundReceiver, uint256 nonce)
        external view returns (bytes32);
    function nonce() external view returns (uint256);
    function getOwners() external view returns (address[] memory);
    function getThreshold() external view returns (uint256);
    function isModuleEnabled(address) external view returns (bool);
    function getStorageAt(uint256 offset, uint256 length) external view returns (bytes memory);
    function setGuard(address) external;
    function enableModule(address) external;
    function addOwnerWithThreshold(address, uint256) external;
    function removeOwner(address, address, uint256) external;
    function changeThreshold(uint256) external;
    function setFallbackHandler(address) external;
}

interface IFactory {
    function createProxyWithNonce(address singleton, bytes memory initializer, uint256 saltNonce) external returns (address);
}

/// An allowlisted contract (say, a router): accepts ETH and any call.
contract Sink {
    fallback() external payable {}
}

/// The tests are the attacks of a colluding quorum: 3 of the 4 owners sign whatever they like.
contract CommitteeGuardTest is Test {
    VmCode constant code = VmCode(address(uint160(uint256(keccak256("hevm cheat code")))));
    bytes32 constant GUARD_SLOT = 0x4a204f620c8c5ccdca3fd54d003badd85ba500436a431f0cbda4f558c93c34c8;
    bytes constant GS013 = abi.encodeWithSignature("Error(string)", "GS013");
    uint8 constant CALL = 0;
    uint8 constant DELEGATECALL = 1;
    uint256 constant ETH_DAY = 10 ether;
    uint256 constant TOKEN_DAY = 150e18;
    uint256 constant DELAY = 2 days;

    ISafe safe;
    CommitteeGuard guard;
    DemoToken token;
    Sink router;
    address multiSend;
    address handler;
    uint256[] keys;
    bytes pendingRevert;
    uint256 revertPending; // 0 none, 1 pendingRevert, 2 any
    address constant HOT = address(0xB0B);
    address constant THIEF = address(0xBAD);
    address constant GUARDIAN = address(0x6A4D);

    function deployArtifact(string memory name) internal returns (address a) {
        bytes memory init = code.getCode(string.concat("concilium/artifacts/", name, ".json"));
        assembly {
            a := create(0, add(init, 0x20), mload(init))
        }
        assertTrue(a != address(0), name);
    }

    function setUp() public {
        vm.warp(1_800_000_000);
        address singleton = deployArtifact("SafeL2");
        IFactory factory = IFactory(deployArtifact("SafeProxyFactory"));
        handler = deployArtifact("TokenCallbackHandler");
        multiSend = deployArtifact("MultiSendCallOnly");
        address[] memory owners = new address[](4);
        for (uint256 i; i < 4; ++i) {
            keys.push(0xC0FFEE + i);
            owners[i] = vm.addr(keys[i]);
        }
        bytes memory init = abi.encodeCall(ISafe.setup, (owners, 3, address(0), "", handler, address(0), 0, payable(address(0))));
        safe = ISafe(factory.createProxyWithNonce(singleton, init, 1));
        vm.deal(address(safe), 100 ether);
        token = new DemoToken("USD Coin", "USDC", 1e24);
        token.transfer(address(safe), 1e22);
        router = new Sink();

        address[] memory recipients = new address[](1);
        recipients[0] = HOT;
        address[] memory targets = new address[](1);
        targets[0] = address(router);
        address[] memory spenders = new address[](1);
        spenders[0] = address(router);
        address[] memory tokens = new address[](1);
        tokens[0] = address(token);
        uint256[] memory limits = new uint256[](1);
        limits[0] = TOKEN_DAY;
        guard = new CommitteeGuard(
            address(safe), CommitteeGuard.Config(recipients, targets, spenders, tokens, limits, ETH_DAY, DELAY, GUARDIAN)
        );
        exec(address(safe), 0, abi.encodeCall(ISafe.setGuard, (address(guard))), CALL);
        assertEq(address(uint160(uint256(bytes32(safe.getStorageAt(uint256(GUARD_SLOT), 1))))), address(guard), "guard set");
    }

    // ------------------------------------------------------------------ helpers

    /// Signatures of the first three owners over the Safe's own SafeTx hash, sorted by owner.
    function quorum(bytes32 h) internal view returns (bytes memory sigs) {
        uint256[3] memory k = [keys[0], keys[1], keys[2]];
        for (uint256 i; i < 3; ++i) {
            for (uint256 j = i + 1; j < 3; ++j) {
                if (vm.addr(k[j]) < vm.addr(k[i])) (k[i], k[j]) = (k[j], k[i]);
            }
        }
        for (uint256 i; i < 3; ++i) {
            (uint8 v, bytes32 r, bytes32 s) = vm.sign(k[i], h);
            sigs = abi.encodePacked(sigs, r, s, v);
        }
    }

    function execFull(address to, uint256 value, bytes memory data, uint8 op, uint256 safeTxGas, uint256 gasPrice, address refund)
        internal
        returns (bool)
    {
        bytes32 h = safe.getTransactionHash(to, value, data, op, safeTxGas, 0, gasPrice, address(0), refund, safe.nonce());
        bytes memory sigs = quorum(h);
        if (revertPending == 1) vm.expectRevert(pendingRevert);
        if (revertPending == 2) vm.expectRevert();
        revertPending = 0;
        return safe.execTransaction(to, value, data, op, safeTxGas, 0, gasPrice, address(0), payable(refund), sigs);
    }

    function exec(address to, uint256 value, bytes memory data, uint8 op) internal returns (bool) {
        return execFull(to, value, data, op, 0, 0, address(0));
    }

    function sendEth(address to, uint256 value) internal returns (bool) {
        return exec(to, value, "", CALL);
    }

    function transferToken(address to, uint256 amount) internal returns (bool) {
        return exec(address(token), 0, abi.encodeCall(token.transfer, (to, amount)), CALL);
    }

    function expectDayLimit(address asset, uint256 spentToday, uint256 amount, uint256 limit) internal {
        expect(abi.encodeWithSelector(CommitteeGuard.DayLimitExceeded.selector, asset, limit, spentToday, amount));
    }

    /// The next exec must revert with `err` (applied right before execTransaction, after the
    /// helper's own view calls, which vm.expectRevert would otherwise catch).
    function expect(bytes memory err) internal {
        pendingRevert = err;
        revertPending = 1;
    }

    function expect(bytes4 err) internal {
        expect(abi.encodePacked(err));
    }

    function expectAny() internal {
        revertPending = 2;
    }

    function bound(uint256 x, uint256 lo, uint256 hi) internal pure returns (uint256) {
        return lo + (x % (hi - lo + 1));
    }

    // ------------------------------------------------------------------ allowed traffic

    function test_quorum_sends_within_limits() public {
        assertTrue(sendEth(HOT, 4 ether), "eth");
        assertTrue(transferToken(HOT, 100e18), "token");
        assertEq(HOT.balance, 4 ether, "hot eth");
        assertEq(token.balanceOf(HOT), 100e18, "hot token");
        assertEq(guard.remainingToday(address(0)), 6 ether, "eth left");
        assertEq(guard.remainingToday(address(token)), 50e18, "token left");
    }

    // ------------------------------------------------------------------ ETH

    function test_quorum_cannot_send_eth_to_outsider() public {
        expect(abi.encodeWithSelector(CommitteeGuard.RecipientNotAllowed.selector, THIEF));
        sendEth(THIEF, 1 wei);
    }

    function testFuzz_eth_day_limit_holds_near_the_limit(uint256 first, uint256 second) public {
        first = bound(first, ETH_DAY - 1 ether, ETH_DAY + 1 ether);
        second = bound(second, 0, 2 ether);
        if (first > ETH_DAY) {
            expectDayLimit(address(0), 0, first, ETH_DAY);
            sendEth(HOT, first);
            first = 0;
        } else {
            sendEth(HOT, first);
        }
        if (first + second > ETH_DAY) {
            expectDayLimit(address(0), first, second, ETH_DAY);
            sendEth(HOT, second);
        } else {
            sendEth(HOT, second);
        }
        assertTrue(HOT.balance <= ETH_DAY, "never more than the day limit");
    }

    function testFuzz_split_transfers_never_exceed_day_limit(uint256 seed) public {
        uint256 sent;
        for (uint256 i; i < 12; ++i) {
            uint256 amount = bound(uint256(keccak256(abi.encode(seed, i))), 0, 3 ether);
            bytes32 h = safe.getTransactionHash(HOT, amount, "", CALL, 0, 0, 0, address(0), address(0), safe.nonce());
            try safe.execTransaction(HOT, amount, "", CALL, 0, 0, 0, address(0), payable(address(0)), quorum(h)) {
                sent += amount;
            } catch {}
        }
        assertEq(HOT.balance, sent, "ledger matches balance");
        assertTrue(sent <= ETH_DAY, "split transfers stay under the limit");
    }

    function test_limit_is_per_utc_day() public {
        sendEth(HOT, ETH_DAY);
        expectDayLimit(address(0), ETH_DAY, 1, ETH_DAY);
        sendEth(HOT, 1);
        vm.warp((block.timestamp / 1 days + 1) * 1 days);
        assertTrue(sendEth(HOT, ETH_DAY), "a new day");
    }

    function test_value_on_a_call_to_an_allowlisted_target_counts() public {
        exec(address(router), 6 ether, abi.encodeWithSignature("swap(address)", THIEF), CALL);
        expectDayLimit(address(0), 6 ether, 5 ether, ETH_DAY);
        exec(address(router), 5 ether, abi.encodeWithSignature("swap(address)", THIEF), CALL);
    }

    function test_quorum_cannot_call_a_contract_outside_the_allowlist() public {
        expect(abi.encodeWithSelector(CommitteeGuard.TargetNotAllowed.selector, HOT));
        exec(HOT, 0, hex"12345678", CALL);
    }

    // ------------------------------------------------------------------ wrapping and refunds

    function test_quorum_cannot_delegatecall() public {
        bytes memory batch = abi.encodePacked(uint8(0), THIEF, uint256(50 ether), uint256(0));
        expect(CommitteeGuard.DelegateCallRefused.selector);
        exec(multiSend, 0, abi.encodeWithSignature("multiSend(bytes)", batch), DELEGATECALL);
        expect(CommitteeGuard.DelegateCallRefused.selector);
        exec(address(router), 0, "", DELEGATECALL);
    }

    function test_quorum_cannot_call_multisend_directly() public {
        bytes memory batch = abi.encodePacked(uint8(0), THIEF, uint256(1 ether), uint256(0));
        expect(abi.encodeWithSelector(CommitteeGuard.TargetNotAllowed.selector, multiSend));
        exec(multiSend, 1 ether, abi.encodeWithSignature("multiSend(bytes)", batch), CALL);
    }

    function test_quorum_cannot_drain_through_gas_refunds() public {
        expect(abi.encodeWithSelector(CommitteeGuard.RefundRefused.selector, 0, 1000 gwei));
        execFull(HOT, 0, "", CALL, 0, 1000 gwei, THIEF);
        expect(abi.encodeWithSelector(CommitteeGuard.RefundRefused.selector, 100_000, 0));
        execFull(HOT, 0, "", CALL, 100_000, 0, address(0));
    }

    function test_outsider_cannot_burn_the_day_budget() public {
        vm.prank(THIEF);
        vm.expectRevert(abi.encodeWithSelector(CommitteeGuard.NotSafe.selector, THIEF));
        guard.checkTransaction(HOT, ETH_DAY, "", Enum.Operation.Call, 0, 0, 0, address(0), payable(address(0)), "", THIEF);
        assertEq(guard.remainingToday(address(0)), ETH_DAY, "budget intact");
    }

    // ------------------------------------------------------------------ ERC-20

    function test_quorum_cannot_send_tokens_to_outsider() public {
        expect(abi.encodeWithSelector(CommitteeGuard.RecipientNotAllowed.selector, THIEF));
        transferToken(THIEF, 1);
    }

    function testFuzz_token_day_limit_holds_near_the_limit(uint256 amount) public {
        amount = bound(amount, TOKEN_DAY - 1e18, TOKEN_DAY + 1e18);
        if (amount > TOKEN_DAY) expectDayLimit(address(token), 0, amount, TOKEN_DAY);
        transferToken(HOT, amount);
        assertTrue(token.balanceOf(HOT) <= TOKEN_DAY, "never more than the day limit");
    }

    function testFuzz_approvals_and_transfers_share_the_token_limit(uint256 approved, uint256 sent) public {
        approved = bound(approved, 1, TOKEN_DAY + 1e18);
        sent = bound(sent, 0, TOKEN_DAY);
        bool approveOk = approved <= TOKEN_DAY;
        if (!approveOk) expectDayLimit(address(token), 0, approved, TOKEN_DAY);
        exec(address(token), 0, abi.encodeCall(token.approve, (address(router), approved)), CALL);
        uint256 used = approveOk ? approved : 0;
        if (used + sent > TOKEN_DAY) expectDayLimit(address(token), used, sent, TOKEN_DAY);
        transferToken(HOT, sent);
        assertTrue(token.allowance(address(safe), address(router)) + token.balanceOf(HOT) <= TOKEN_DAY, "exposure <= limit");
    }

    function test_unknown_calldata_to_a_token_is_refused() public {
        bytes memory pull = abi.encodeCall(token.transferFrom, (address(safe), THIEF, 1));
        expect(abi.encodeWithSelector(CommitteeGuard.TokenCallRefused.selector, address(token), token.transferFrom.selector));
        exec(address(token), 0, pull, CALL);
        bytes memory incr = abi.encodeWithSignature("increaseAllowance(address,uint256)", address(router), 1);
        expect(abi.encodeWithSelector(CommitteeGuard.TokenCallRefused.selector, address(token), bytes4(incr)));
        exec(address(token), 0, incr, CALL);
        bytes memory padded = abi.encodePacked(abi.encodeCall(token.transfer, (HOT, 1)), uint256(7));
        expect(abi.encodeWithSelector(CommitteeGuard.TokenCallRefused.selector, address(token), token.transfer.selector));
        exec(address(token), 0, padded, CALL);
    }

    function test_dirty_address_bits_are_refused() public {
        bytes memory dirty = abi.encodePacked(token.transfer.selector, bytes32(uint256(uint160(HOT)) | (1 << 200)), uint256(1));
        expectAny();
        exec(address(token), 0, dirty, CALL);
    }

    function test_eth_value_on_a_token_call_is_refused() public {
        expect(abi.encodeWithSelector(CommitteeGuard.ValueToTokenRefused.selector, address(token), 1 ether));
        exec(address(token), 1 ether, abi.encodeCall(token.transfer, (HOT, 1)), CALL);
    }

    function test_approvals_go_only_to_spenders_and_count_like_transfers() public {
        expect(abi.encodeWithSelector(CommitteeGuard.SpenderNotAllowed.selector, THIEF));
        exec(address(token), 0, abi.encodeCall(token.approve, (THIEF, 1)), CALL);
        expectDayLimit(address(token), 0, type(uint256).max, TOKEN_DAY);
        exec(address(token), 0, abi.encodeCall(token.approve, (address(router), type(uint256).max)), CALL);
        exec(address(token), 0, abi.encodeCall(token.approve, (address(router), 100e18)), CALL);
        expectDayLimit(address(token), 100e18, 60e18, TOKEN_DAY);
        transferToken(HOT, 60e18);
        assertTrue(exec(address(token), 0, abi.encodeCall(token.approve, (THIEF, 0)), CALL), "revoking is free");
    }

    // ------------------------------------------------------------------ the Safe's own settings

    function test_quorum_cannot_remove_or_replace_the_guard() public {
        bytes memory data = abi.encodeCall(ISafe.setGuard, (address(0)));
        expect(abi.encodeWithSelector(CommitteeGuard.NotScheduled.selector, guard.changeId(address(safe), data)));
        exec(address(safe), 0, data, CALL);
    }

    function test_quorum_cannot_change_owners_modules_threshold_or_handler() public {
        bytes[5] memory attacks = [
            abi.encodeCall(ISafe.enableModule, (THIEF)),
            abi.encodeCall(ISafe.addOwnerWithThreshold, (THIEF, 1)),
            abi.encodeCall(ISafe.changeThreshold, (1)),
            abi.encodeCall(ISafe.setFallbackHandler, (THIEF)),
            abi.encodeCall(ISafe.removeOwner, (address(1), vm.addr(keys[3]), 2))
        ];
        for (uint256 i; i < attacks.length; ++i) {
            expect(abi.encodeWithSelector(CommitteeGuard.NotScheduled.selector, guard.changeId(address(safe), attacks[i])));
            exec(address(safe), 0, attacks[i], CALL);
        }
        assertEq(safe.getThreshold(), 3, "threshold");
        assertEq(safe.getOwners().length, 4, "owners");
        assertTrue(!safe.isModuleEnabled(THIEF), "module");
    }

    function test_quorum_cannot_loosen_the_guard_without_delay() public {
        bytes memory data = abi.encodeCall(guard.setEthLimit, (1000 ether));
        expect(abi.encodeWithSelector(CommitteeGuard.NotScheduled.selector, guard.changeId(address(guard), data)));
        exec(address(guard), 0, data, CALL);
        vm.prank(THIEF);
        vm.expectRevert(abi.encodeWithSelector(CommitteeGuard.NotSafe.selector, THIEF));
        guard.setEthLimit(1000 ether);
        assertEq(guard.dayLimit(address(0)), ETH_DAY, "limit unchanged");
    }

    function test_scheduled_change_runs_once_after_delay_within_grace() public {
        bytes memory data = abi.encodeCall(guard.setEthLimit, (20 ether));
        bytes32 id = guard.changeId(address(guard), data);
        exec(address(guard), 0, abi.encodeCall(guard.schedule, (address(guard), data)), CALL);
        expect(abi.encodeWithSelector(CommitteeGuard.TooEarly.selector, id, block.timestamp + DELAY));
        exec(address(guard), 0, data, CALL);
        vm.warp(block.timestamp + DELAY);
        exec(address(guard), 0, data, CALL);
        assertEq(guard.dayLimit(address(0)), 20 ether, "raised after the delay");
        expect(abi.encodeWithSelector(CommitteeGuard.NotScheduled.selector, id));
        exec(address(guard), 0, data, CALL);
    }

    function test_scheduled_change_expires_after_grace() public {
        bytes memory data = abi.encodeCall(ISafe.setGuard, (address(0)));
        bytes32 id = guard.changeId(address(safe), data);
        exec(address(guard), 0, abi.encodeCall(guard.schedule, (address(safe), data)), CALL);
        uint256 at = block.timestamp + DELAY;
        vm.warp(at + guard.GRACE_PERIOD() + 1);
        expect(abi.encodeWithSelector(CommitteeGuard.Expired.selector, id, at));
        exec(address(safe), 0, data, CALL);
    }

    function test_guardian_cancels_a_pending_guard_removal() public {
        bytes memory data = abi.encodeCall(ISafe.setGuard, (address(0)));
        bytes32 id = guard.changeId(address(safe), data);
        exec(address(guard), 0, abi.encodeCall(guard.schedule, (address(safe), data)), CALL);
        vm.prank(THIEF);
        vm.expectRevert(abi.encodeWithSelector(CommitteeGuard.NotSafeOrGuardian.selector, THIEF));
        guard.cancel(id);
        vm.prank(GUARDIAN);
        guard.cancel(id);
        vm.warp(block.timestamp + DELAY);
        expect(abi.encodeWithSelector(CommitteeGuard.NotScheduled.selector, id));
        exec(address(safe), 0, data, CALL);
    }

    function test_guard_removal_after_delay_is_the_documented_escape_hatch() public {
        bytes memory data = abi.encodeCall(ISafe.setGuard, (address(0)));
        exec(address(guard), 0, abi.encodeCall(guard.schedule, (address(safe), data)), CALL);
        vm.warp(block.timestamp + DELAY);
        exec(address(safe), 0, data, CALL);
        assertEq(bytes32(safe.getStorageAt(uint256(GUARD_SLOT), 1)), bytes32(0), "guard removed");
    }

    function test_schedule_only_targets_the_safe_or_the_guard() public {
        // the guard lets the schedule call through; schedule itself reverts (BadChange), which the
        // Safe reports as GS013 (inner call failed with safeTxGas = gasPrice = 0)
        expect(GS013);
        exec(address(guard), 0, abi.encodeCall(guard.schedule, (THIEF, hex"12345678")), CALL);
        vm.prank(address(safe));
        vm.expectRevert(abi.encodeWithSelector(CommitteeGuard.BadChange.selector, THIEF));
        guard.schedule(THIEF, hex"12345678");
    }

    function test_a_token_cannot_become_a_target() public {
        bytes memory data = abi.encodeCall(guard.setTarget, (address(token), true));
        exec(address(guard), 0, abi.encodeCall(guard.schedule, (address(guard), data)), CALL);
        vm.warp(block.timestamp + DELAY);
        expect(GS013); // the inner setter reverts with TokenIsTarget
        exec(address(guard), 0, data, CALL);
        assertTrue(!guard.isTarget(address(token)), "still not a target");
    }

    function test_delay_bounds() public {
        address[] memory none = new address[](0);
        uint256[] memory zero = new uint256[](0);
        vm.expectRevert(abi.encodeWithSelector(CommitteeGuard.BadDelay.selector, 0));
        new CommitteeGuard(address(safe), CommitteeGuard.Config(none, none, none, none, zero, 0, 0, address(0)));
    }
}
