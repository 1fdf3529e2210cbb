// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Enum} from "@safe-global/safe-contracts/contracts/common/Enum.sol";
import {BaseGuard} from "@safe-global/safe-contracts/contracts/base/GuardManager.sol";

/// @title CommitteeGuard: limits on a committee's Safe that hold even if a quorum of owners colludes.
/// @notice A Safe (1.4.1) transaction guard bound to one Safe. Every `execTransaction` of that
/// Safe passes `checkTransaction` first; a refusal reverts the whole transaction (the Safe's
/// nonce is not consumed).
///
/// What it ENFORCES on every Safe transaction, whoever signed it:
///  - operation CALL only: no DELEGATECALL (so no MultiSend, no library running as the Safe);
///  - `safeTxGas == 0` and `gasPrice == 0`: no gas refunds (the refund path pays `gasPrice` x gas
///    in ETH or any token to any `refundReceiver`), and a failed inner call reverts the whole
///    transaction, so the day ledger below counts exactly what executed;
///  - a call to a configured token carries no ETH and is exactly `transfer(to, amount)` with `to`
///    an allowlisted recipient, or `approve(spender, amount)` with `spender` an allowlisted
///    spender (approve to 0 always allowed); any other calldata to a token is refused;
///    transfers AND approvals count against that token's per-day limit;
///  - any other call: empty calldata goes to an allowlisted recipient or target; non-empty
///    calldata only to an allowlisted target (never to a configured token, see `setTarget`);
///    the ETH `value` of every call counts against the per-day ETH limit;
///  - calls to the Safe itself (owners, threshold, guard, modules, fallback handler, anything
///    `authorized`) and to this guard's setters only run as a change scheduled at least `delay`
///    earlier (`schedule`), executed in the window [readyAt, readyAt + GRACE_PERIOD], once.
///    `schedule` and `cancel` themselves are immediate. The guardian (optional) can cancel a
///    pending change and do nothing else.
/// Days are UTC days (block.timestamp / 1 days): within one day the sum is <= the limit; a
/// 24-hour window spanning midnight can see up to twice the limit.
///
/// What it CANNOT enforce:
///  - what an allowlisted target does with the ETH sent to it or with tokens approved to it
///    (a router's `recipient` argument is not decoded): the day limits bound the loss;
///  - allowances the Safe granted before this guard was set, and modules enabled before it
///    (Safe 1.4.1 does not guard `execTransactionFromModule`): attach only to a Safe with no
///    modules and audit its allowances first (the Python side checks modules);
///  - off-chain signatures made in the Safe's name: with a fallback handler that implements
///    EIP-1271 `isValidSignature` (CompatibilityFallbackHandler), a quorum can sign e.g. a
///    Permit2 transfer without any Safe transaction. Committees deploy with
///    TokenCallbackHandler (no EIP-1271); changing the handler goes through the delay;
///  - a quorum that schedules a change (say, removing this guard) and waits out the delay:
///    the delay buys time for the guardian to cancel and for depositors to leave;
///  - liveness: a quorum can refuse to sign or use up a day's limits.
contract CommitteeGuard is BaseGuard {
    uint256 public constant MIN_DELAY = 1 hours;
    uint256 public constant MAX_DELAY = 30 days;
    uint256 public constant GRACE_PERIOD = 7 days;
    /// The asset key of native ETH in `dayLimit` and `spent`.
    address public constant ETH = address(0);

    address public immutable safe;
    uint256 public delay;
    address public guardian;

    mapping(address => bool) public isRecipient;
    mapping(address => bool) public isTarget;
    mapping(address => bool) public isSpender;
    mapping(address => bool) public isToken;
    /// Per-UTC-day limit per asset (ETH = address(0)); a configured token with limit 0 cannot move.
    mapping(address => uint256) public dayLimit;
    /// asset => UTC day => amount sent or approved that day.
    mapping(address => mapping(uint256 => uint256)) public spent;
    /// keccak256(abi.encode(to, data)) of a scheduled change => earliest execution time.
    mapping(bytes32 => uint256) public readyAt;

    event Spent(address indexed asset, uint256 indexed day, uint256 amount, uint256 total);
    event ChangeScheduled(bytes32 indexed id, address to, bytes data, uint256 readyAt);
    event ChangeExecuted(bytes32 indexed id);
    event ChangeCancelled(bytes32 indexed id, address by);
    event RecipientSet(address indexed who, bool allowed);
    event TargetSet(address indexed who, bool allowed);
    event SpenderSet(address indexed who, bool allowed);
    event TokenSet(address indexed token, bool allowed, uint256 perDay);
    event EthLimitSet(uint256 perDay);
    event DelaySet(uint256 delay);
    event GuardianSet(address guardian);

    error NotSafe(address caller);
    error NotSafeOrGuardian(address caller);
    error DelegateCallRefused();
    error RefundRefused(uint256 safeTxGas, uint256 gasPrice);
    error RecipientNotAllowed(address to);
    error TargetNotAllowed(address to);
    error SpenderNotAllowed(address spender);
    error TokenCallRefused(address token, bytes4 selector);
    error ValueToTokenRefused(address token, uint256 value);
    error DayLimitExceeded(address asset, uint256 limit, uint256 spentToday, uint256 amount);
    error NotScheduled(bytes32 id);
    error TooEarly(bytes32 id, uint256 readyAt);
    error Expired(bytes32 id, uint256 readyAt);
    error AlreadyScheduled(bytes32 id);
    error BadChange(address to);
    error BadDelay(uint256 delay);
    error TokenIsTarget(address who);

    modifier onlySafe() {
        if (msg.sender != safe) revert NotSafe(msg.sender);
        _;
    }

    struct Config {
        address[] recipients;
        address[] targets;
        address[] spenders;
        address[] tokens;
        uint256[] tokenPerDay;
        uint256 ethPerDay;
        uint256 delay;
        address guardian;
    }

    constructor(address safe_, Config memory c) {
        safe = safe_;
        _setDelay(c.delay);
        guardian = c.guardian;
        emit GuardianSet(c.guardian);
        _setEthLimit(c.ethPerDay);
        require(c.tokens.length == c.tokenPerDay.length, "tokens/tokenPerDay length");
        for (uint256 i; i < c.tokens.length; ++i) _setToken(c.tokens[i], true, c.tokenPerDay[i]);
        for (uint256 i; i < c.recipients.length; ++i) _setRecipient(c.recipients[i], true);
        for (uint256 i; i < c.targets.length; ++i) _setTarget(c.targets[i], true);
        for (uint256 i; i < c.spenders.length; ++i) _setSpender(c.spenders[i], true);
    }

    // ------------------------------------------------------------------ the Safe's hooks

    function checkTransaction(
        address to,
        uint256 value,
        bytes calldata data,
        Enum.Operation operation,
        uint256 safeTxGas,
        uint256, /* baseGas: only paid when gasPrice > 0, which is refused */
        uint256 gasPrice,
        address, /* gasToken */
        address payable, /* refundReceiver */
        bytes memory, /* signatures: the Safe checked them */
        address /* msgSender: anyone may submit a quorum's signatures */
    ) external override onlySafe {
        if (operation != Enum.Operation.Call) revert DelegateCallRefused();
        if (safeTxGas != 0 || gasPrice != 0) revert RefundRefused(safeTxGas, gasPrice);
        if (to == safe || to == address(this)) return _checkChange(to, value, data);
        if (isToken[to]) return _checkTokenCall(to, value, data);
        if (data.length == 0) {
            if (!isRecipient[to] && !isTarget[to]) revert RecipientNotAllowed(to);
        } else if (!isTarget[to]) {
            revert TargetNotAllowed(to);
        }
        if (value != 0) _spend(ETH, value);
    }

    function checkAfterExecution(bytes32, bool) external view override {}

    // ------------------------------------------------------------------ delayed changes

    /// Schedule a call from the Safe to itself or to this guard's setters. Only the Safe (that
    /// is, a quorum through execTransaction) can schedule; it runs after `delay`.
    function schedule(address to, bytes calldata data) external onlySafe returns (bytes32 id) {
        if ((to != safe && to != address(this)) || data.length < 4) revert BadChange(to);
        id = changeId(to, data);
        if (readyAt[id] != 0) revert AlreadyScheduled(id);
        uint256 at = block.timestamp + delay;
        readyAt[id] = at;
        emit ChangeScheduled(id, to, data, at);
    }

    /// Cancel a pending change: the Safe (a quorum) or the guardian.
    function cancel(bytes32 id) external {
        if (msg.sender != safe && msg.sender != guardian) revert NotSafeOrGuardian(msg.sender);
        if (readyAt[id] == 0) revert NotScheduled(id);
        delete readyAt[id];
        emit ChangeCancelled(id, msg.sender);
    }

    function changeId(address to, bytes calldata data) public pure returns (bytes32) {
        return keccak256(abi.encode(to, data));
    }

    // ------------------------------------------------------------------ setters (delayed: see _checkChange)

    function setRecipient(address who, bool allowed) external onlySafe {
        _setRecipient(who, allowed);
    }

    function setTarget(address who, bool allowed) external onlySafe {
        _setTarget(who, allowed);
    }

    function setSpender(address who, bool allowed) external onlySafe {
        _setSpender(who, allowed);
    }

    function setToken(address token, bool allowed, uint256 perDay) external onlySafe {
        _setToken(token, allowed, perDay);
    }

    function setEthLimit(uint256 perDay) external onlySafe {
        _setEthLimit(perDay);
    }

    function setDelay(uint256 delay_) external onlySafe {
        _setDelay(delay_);
    }

    function setGuardian(address guardian_) external onlySafe {
        guardian = guardian_;
        emit GuardianSet(guardian_);
    }

    /// What is left of an asset's limit today (ETH = address(0)).
    function remainingToday(address asset) external view returns (uint256) {
        uint256 used = spent[asset][block.timestamp / 1 days];
        uint256 limit = dayLimit[asset];
        return used >= limit ? 0 : limit - used;
    }

    // ------------------------------------------------------------------ internals

    function _checkChange(address to, uint256 value, bytes calldata data) internal {
        if (value != 0) revert BadChange(to);
        if (to == address(this) && data.length >= 4) {
            bytes4 sel = bytes4(data[:4]);
            if (sel == this.schedule.selector || sel == this.cancel.selector) return;
        }
        bytes32 id = changeId(to, data);
        uint256 at = readyAt[id];
        if (at == 0) revert NotScheduled(id);
        if (block.timestamp < at) revert TooEarly(id, at);
        if (block.timestamp > at + GRACE_PERIOD) revert Expired(id, at);
        delete readyAt[id];
        emit ChangeExecuted(id);
    }

    function _checkTokenCall(address token, uint256 value, bytes calldata data) internal {
        if (value != 0) revert ValueToTokenRefused(token, value);
        bytes4 sel = data.length >= 4 ? bytes4(data[:4]) : bytes4(0);
        if (data.length != 68) revert TokenCallRefused(token, sel);
        (address who, uint256 amount) = abi.decode(data[4:], (address, uint256));
        if (sel == 0xa9059cbb) {
            // transfer(address,uint256)
            if (!isRecipient[who]) revert RecipientNotAllowed(who);
            _spend(token, amount);
        } else if (sel == 0x095ea7b3) {
            // approve(address,uint256): an allowance is a transfer the spender may make later
            if (amount == 0) return;
            if (!isSpender[who]) revert SpenderNotAllowed(who);
            _spend(token, amount);
        } else {
            revert TokenCallRefused(token, sel);
        }
    }

    function _spend(address asset, uint256 amount) internal {
        uint256 day = block.timestamp / 1 days;
        uint256 limit = dayLimit[asset];
        uint256 used = spent[asset][day];
        // compared as `amount > limit - used` so that no amount can overflow the sum
        if (used > limit || amount > limit - used) revert DayLimitExceeded(asset, limit, used, amount);
        spent[asset][day] = used + amount;
        emit Spent(asset, day, amount, used + amount);
    }

    function _setRecipient(address who, bool allowed) internal {
        isRecipient[who] = allowed;
        emit RecipientSet(who, allowed);
    }

    function _setTarget(address who, bool allowed) internal {
        // a token listed as a target would take arbitrary calldata (transferFrom, permit, ...)
        if (allowed && (isToken[who] || who == safe || who == address(this))) revert TokenIsTarget(who);
        isTarget[who] = allowed;
        emit TargetSet(who, allowed);
    }

    function _setSpender(address who, bool allowed) internal {
        isSpender[who] = allowed;
        emit SpenderSet(who, allowed);
    }

    function _setToken(address token, bool allowed, uint256 perDay) internal {
        if (allowed && isTarget[token]) revert TokenIsTarget(token);
        if (token == ETH || token == safe || token == address(this)) revert BadChange(token);
        isToken[token] = allowed;
        dayLimit[token] = allowed ? perDay : 0;
        emit TokenSet(token, allowed, perDay);
    }

    function _setEthLimit(uint256 perDay) internal {
        dayLimit[ETH] = perDay;
        emit EthLimitSet(perDay);
    }

    function _setDelay(uint256 delay_) internal {
        if (delay_ < MIN_DELAY || delay_ > MAX_DELAY) revert BadDelay(delay_);
        delay = delay_;
        emit DelaySet(delay_);
    }
}
