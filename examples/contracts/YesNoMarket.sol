// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AgentOracleConsumer} from "../../contracts/src/AgentOracleConsumer.sol";
import {IAgentOracle} from "../../contracts/src/IAgentOracle.sol";

/// @notice A tiny prediction market: people bet ETH on yes or no; `resolve` asks the AgentOracle
/// the question; the callback settles it and winners `claim` their share of the pot.
contract YesNoMarket is AgentOracleConsumer {
    string public question;
    mapping(address => uint256) public yesStake;
    mapping(address => uint256) public noStake;
    uint256 public totalYes;
    uint256 public totalNo;
    uint256 public requestId;
    bool public resolved;
    bool public outcome;

    event Bet(address indexed who, bool yes, uint256 amount);
    event Resolved(uint256 indexed requestId, bool outcome);

    error AlreadyResolved();
    error AlreadyAsked();
    error NotResolved();
    error NothingToClaim();

    constructor(address oracle_, string memory question_) AgentOracleConsumer(oracle_) {
        question = question_;
    }

    function bet(bool yes) external payable {
        if (resolved || requestId != 0) revert AlreadyResolved();
        if (yes) {
            yesStake[msg.sender] += msg.value;
            totalYes += msg.value;
        } else {
            noStake[msg.sender] += msg.value;
            totalNo += msg.value;
        }
        emit Bet(msg.sender, yes, msg.value);
    }

    /// @notice Ask the oracle; the ETH sent along is the fee for the nodes that agree.
    function resolve() external payable {
        if (requestId != 0) revert AlreadyAsked();
        requestId = _requestOracle(question, IAgentOracle.Kind.Bool, "", 100_000, msg.value);
    }

    function _onOracleResult(uint256 id, bytes calldata result) internal override {
        if (id != requestId || resolved) return;
        resolved = true;
        outcome = abi.decode(result, (bool));
        emit Resolved(id, outcome);
    }

    function claim() external {
        if (!resolved) revert NotResolved();
        uint256 stake = outcome ? yesStake[msg.sender] : noStake[msg.sender];
        if (stake == 0) revert NothingToClaim();
        yesStake[msg.sender] = 0;
        noStake[msg.sender] = 0;
        uint256 winners = outcome ? totalYes : totalNo;
        uint256 payout = (stake * (totalYes + totalNo)) / winners;
        (bool ok,) = msg.sender.call{value: payout}("");
        require(ok, "transfer failed");
    }
}
