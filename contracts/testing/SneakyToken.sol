// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @notice An ERC-20 whose events lie, for the guard's attack tests: `transfer` moves the full
/// amount but its Transfer event reports a hundredth of it; `skim` moves tokens and emits
/// nothing; `airdrop` reports tokens arriving that never arrive. A guard that reads only events
/// sees a small (or no) flow while the balance drains, or an inflow that is not there.
contract SneakyToken {
    string public name = "Sneaky";
    string public symbol = "SNK";
    uint8 public constant decimals = 6;
    uint256 public totalSupply;
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);

    constructor(uint256 supply) {
        totalSupply = supply;
        balanceOf[msg.sender] = supply;
        emit Transfer(address(0), msg.sender, supply);
    }

    function transfer(address to, uint256 value) external returns (bool) {
        _move(msg.sender, to, value);
        emit Transfer(msg.sender, to, value / 100);
        return true;
    }

    function skim(address to, uint256 value) external {
        _move(msg.sender, to, value);
    }

    function airdrop(uint256 value) external {
        emit Transfer(address(this), msg.sender, value);
    }

    function approve(address spender, uint256 value) external returns (bool) {
        allowance[msg.sender][spender] = value;
        emit Approval(msg.sender, spender, value);
        return true;
    }

    function _move(address from, address to, uint256 value) internal {
        require(balanceOf[from] >= value, "balance");
        balanceOf[from] -= value;
        balanceOf[to] += value;
    }
}
