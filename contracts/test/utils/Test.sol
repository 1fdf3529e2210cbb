// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// The cheatcodes our tests use (forge-std is not obtainable offline; these are its signatures).
interface Vm {
    function prank(address) external;
    function startPrank(address) external;
    function stopPrank() external;
    function expectRevert(bytes calldata) external;
    function expectRevert(bytes4) external;
    function expectRevert() external;
    function warp(uint256) external;
    function deal(address, uint256) external;
    function assume(bool) external;
    function sign(uint256 privateKey, bytes32 digest) external pure returns (uint8 v, bytes32 r, bytes32 s);
    function addr(uint256 privateKey) external pure returns (address);
    function chainId(uint256) external;
    function snapshotState() external returns (uint256);
    function revertToState(uint256) external returns (bool);
    function txGasPrice(uint256) external;
    function fee(uint256) external;
    function etch(address, bytes calldata) external;
    function cool(address) external;
}

/// Minimal test base: a failed assertion reverts, which forge reports as a failed test.
abstract contract Test {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    error AssertionFailed(string what);

    /// x mapped into [lo, hi] (fuzz inputs).
    function _bound(uint256 x, uint256 lo, uint256 hi) internal pure returns (uint256) {
        return lo + x % (hi - lo + 1);
    }

    function assertTrue(bool c, string memory what) internal pure {
        if (!c) revert AssertionFailed(what);
    }

    function assertEq(uint256 a, uint256 b, string memory what) internal pure {
        if (a != b) revert AssertionFailed(what);
    }

    function assertEq(int256 a, int256 b, string memory what) internal pure {
        if (a != b) revert AssertionFailed(what);
    }

    function assertEq(address a, address b, string memory what) internal pure {
        if (a != b) revert AssertionFailed(what);
    }

    function assertEq(bytes32 a, bytes32 b, string memory what) internal pure {
        if (a != b) revert AssertionFailed(what);
    }

    function assertEq(bytes memory a, bytes memory b, string memory what) internal pure {
        if (keccak256(a) != keccak256(b)) revert AssertionFailed(what);
    }

    /// a and b differ by at most `maxRel` (1e18 = 100%) of b.
    function assertApproxEqRel(uint256 a, uint256 b, uint256 maxRel, string memory what) internal pure {
        uint256 d = a > b ? a - b : b - a;
        if (d * 1e18 > maxRel * b) revert AssertionFailed(what);
    }
}
