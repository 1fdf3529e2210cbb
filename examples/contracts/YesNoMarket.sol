// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AgentOracleConsumer} from "../../contracts/src/AgentOracleConsumer.sol";
import {IAgentOracle} from "../../contracts/src/IAgentOracle.sol";

/// @notice A tiny prediction market: people bet ETH on yes or no until `closesAt`; after that
/// anyone may `resolve` (paying at least `minFee` to the oracle's nodes); the callback settles it
/// and winners `claim` their share of the pot.
///
/// What makes it safe to copy: it cannot be asked before it closes nor for a token fee; if a
/// request ends without settling the market (cancelled after its deadline, a quorum of nodes
/// found it unanswerable, or the callback failed) anyone may ask again, and the earlier payer
/// gets the oracle's refund back (`claimFeeRefund`); if no one bet on the winning side, every
/// bettor takes their stake back.
contract YesNoMarket is AgentOracleConsumer {
    string public question;
    uint64 public immutable closesAt;
    uint256 public immutable minFee;
    uint32 public immutable callbackGas;
    mapping(address => uint256) public yesStake;
    mapping(address => uint256) public noStake;
    uint256 public totalYes;
    uint256 public totalNo;
    uint256 public requestId;
    address public resolver; // who paid for the current request
    bool public resolved;
    bool public outcome;
    mapping(address => uint256) public feeRefunds;

    event Bet(address indexed who, bool yes, uint256 amount);
    event Asked(uint256 indexed requestId, address indexed resolver, uint256 fee);
    event Resolved(uint256 indexed requestId, bool outcome);

    error BettingClosed(uint64 closesAt);
    error NotClosed(uint64 closesAt);
    error FeeTooLow(uint256 fee, uint256 minFee);
    error AlreadyResolved();
    error StillAsking(uint256 requestId);
    error NotResolved();
    error NothingToClaim();
    error TransferFailed();

    constructor(address oracle_, string memory question_, uint64 closesAt_, uint256 minFee_, uint32 callbackGas_)
        AgentOracleConsumer(oracle_)
    {
        question = question_;
        closesAt = closesAt_;
        minFee = minFee_;
        callbackGas = callbackGas_;
    }

    function bet(bool yes) external payable {
        if (block.timestamp >= closesAt) revert BettingClosed(closesAt);
        if (yes) {
            yesStake[msg.sender] += msg.value;
            totalYes += msg.value;
        } else {
            noStake[msg.sender] += msg.value;
            totalNo += msg.value;
        }
        emit Bet(msg.sender, yes, msg.value);
    }

    /// @notice Ask the oracle; the ETH sent along (at least `minFee`) is the fee for the nodes.
    /// Allowed after close, once no earlier request is still pending or has settled the market.
    function resolve() external payable {
        if (resolved) revert AlreadyResolved();
        if (block.timestamp < closesAt) revert NotClosed(closesAt);
        if (msg.value < minFee) revert FeeTooLow(msg.value, minFee);
        if (requestId != 0) {
            if (oracle.statusOf(requestId) == IAgentOracle.Status.Pending) revert StillAsking(requestId);
            _collectRefund(); // cancelled or unanswerable: the earlier payer's refund; failed callback: nothing
        }
        resolver = msg.sender;
        requestId = _requestOracle(question, IAgentOracle.Kind.Bool, "", callbackGas, msg.value);
        emit Asked(requestId, msg.sender, msg.value);
    }

    function _onOracleResult(uint256 id, bytes calldata result) internal override {
        if (id != requestId || resolved) return;
        resolved = true;
        outcome = abi.decode(result, (bool));
        emit Resolved(id, outcome);
    }

    /// @notice Winners take their share of the pot; if no one bet on the winning side, everyone
    /// takes their own stake back.
    function claim() external {
        if (!resolved) revert NotResolved();
        uint256 winners = outcome ? totalYes : totalNo;
        uint256 payout;
        if (winners == 0) {
            payout = yesStake[msg.sender] + noStake[msg.sender];
        } else {
            uint256 stake = outcome ? yesStake[msg.sender] : noStake[msg.sender];
            payout = (stake * (totalYes + totalNo)) / winners;
        }
        if (payout == 0) revert NothingToClaim();
        yesStake[msg.sender] = 0;
        noStake[msg.sender] = 0;
        _pay(msg.sender, payout);
    }

    /// @notice The fee of a request that ended without an answer comes back to whoever paid it.
    function claimFeeRefund() external {
        if (requestId != 0 && oracle.statusOf(requestId) != IAgentOracle.Status.Pending) _collectRefund();
        uint256 amount = feeRefunds[msg.sender];
        if (amount == 0) revert NothingToClaim();
        feeRefunds[msg.sender] = 0;
        _pay(msg.sender, amount);
    }

    /// Whatever the oracle holds for this market is the current resolver's refund.
    function _collectRefund() internal {
        uint256 owed = oracle.credits(address(this));
        if (owed == 0) return;
        feeRefunds[resolver] += owed;
        _withdrawOracleRefund(address(this));
    }

    function _pay(address to, uint256 amount) internal {
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert TransferFailed();
    }
}
