// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @notice An ERC-20 with every way to move or expose a holder's tokens in one call, for the
/// guard's bypass tests: transfer, transferFrom, approve, increaseAllowance, an
/// operator-style setApprovalForAll, and a self-multicall (delegatecall, so msg.sender stays the
/// holder). Decimals, name and symbol are the deployer's (the tests plant instructions there).
contract HostileToken {
    string public name;
    string public symbol;
    uint8 public immutable decimals;
    uint256 public totalSupply;
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;
    mapping(address => mapping(address => bool)) public isApprovedForAll;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);
    event ApprovalForAll(address indexed owner, address indexed operator, bool approved);

    constructor(string memory name_, string memory symbol_, uint8 decimals_, uint256 supply) {
        name = name_;
        symbol = symbol_;
        decimals = decimals_;
        totalSupply = supply;
        balanceOf[msg.sender] = supply;
        emit Transfer(address(0), msg.sender, supply);
    }

    function transfer(address to, uint256 value) external returns (bool) {
        _move(msg.sender, to, value);
        return true;
    }

    function approve(address spender, uint256 value) public returns (bool) {
        allowance[msg.sender][spender] = value;
        emit Approval(msg.sender, spender, value);
        return true;
    }

    function increaseAllowance(address spender, uint256 added) external returns (bool) {
        return approve(spender, allowance[msg.sender][spender] + added);
    }

    function setApprovalForAll(address operator, bool approved) external {
        isApprovedForAll[msg.sender][operator] = approved;
        emit ApprovalForAll(msg.sender, operator, approved);
    }

    function transferFrom(address from, address to, uint256 value) external returns (bool) {
        if (!isApprovedForAll[from][msg.sender]) {
            uint256 allowed = allowance[from][msg.sender];
            require(allowed >= value, "allowance");
            if (allowed != type(uint256).max) allowance[from][msg.sender] = allowed - value;
        }
        _move(from, to, value);
        return true;
    }

    function multicall(bytes[] calldata data) external returns (bytes[] memory results) {
        results = new bytes[](data.length);
        for (uint256 i = 0; i < data.length; i++) {
            (bool ok, bytes memory out) = address(this).delegatecall(data[i]);
            require(ok, "multicall");
            results[i] = out;
        }
    }

    function _move(address from, address to, uint256 value) internal {
        require(balanceOf[from] >= value, "balance");
        balanceOf[from] -= value;
        balanceOf[to] += value;
        emit Transfer(from, to, value);
    }
}
