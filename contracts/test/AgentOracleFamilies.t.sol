// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {OracleFixture} from "./utils/OracleFixture.sol";
import {IAgentOracle} from "../src/IAgentOracle.sol";

/// Agreement across model families (`minFamilies`): a family is the first 4 bytes of the model id
/// a node signs. Written as the attacks: one family settling alone, a family counted twice under
/// two model ids, a disagreeing or silent node of the other family counted, a numeric liar of the
/// other family outside the honest band counted, impossible requirements accepted.
contract AgentOracleFamiliesTest is OracleFixture {
    bytes4 constant SMOL = bytes4(sha256("smollm2"));
    bytes4 constant GEMMA = bytes4(sha256("gemma3"));

    function setUp() public {
        deployWith(4); // f = 1, quorum 3
    }

    /// A model id of `family` whose other 28 bytes hash `detail` (weights, engine, sampling).
    function _model(bytes4 family, string memory detail) internal pure returns (bytes32) {
        return bytes32(family) | (keccak256(bytes(detail)) >> 32);
    }

    /// Node i signs under a model of family `f[i]`, with its own weights/sampling detail.
    function _families(bytes4[4] memory f) internal {
        string[4] memory detail = ["q4, t=0", "q8, t=0", "f16, t=0.7", "bf16"];
        for (uint256 i; i < 4; ++i) modelOf[keys[i]] = _model(f[i], detail[i]);
    }

    /// Nodes 0-1 run SmolLM2, nodes 2-3 Gemma.
    function _twoFamilies() internal {
        _families([SMOL, SMOL, GEMMA, GEMMA]);
    }

    function _ask(IAgentOracle.Kind kind, uint8 minFamilies) internal returns (uint256) {
        return oracle.requestPinned{value: FEE}("q", kind, "", 0, bytes32(0), 0, 0, minFamilies);
    }

    function testAgreementAcrossTwoFamiliesSettlesAndPaysBoth() public {
        _twoFamilies();
        uint256 id = _ask(IAgentOracle.Kind.Bool, 2);
        assertEq(oracle.requests(id).minFamilies, 2, "stored");
        oracle.fulfill(id, signed(id, range(4), same(4, abi.encode(true))));
        assertTrue(status(id) == IAgentOracle.Status.Fulfilled, "settled");
        for (uint256 i; i < 4; ++i) assertEq(oracle.nodeInfo(vm.addr(keys[i])).credit, FEE / 4, "each paid");
    }

    /// Three nodes of one family are a quorum, but not two families: refused, with or without the
    /// other family's disagreeing or silent node in the report; settles once it agrees.
    function testOneFamilyAloneCannotSettle() public {
        _families([SMOL, SMOL, SMOL, GEMMA]);
        uint256 id = _ask(IAgentOracle.Kind.Bool, 2);
        IAgentOracle.Answer[] memory report1 = signed(id, idx(0, 1, 2), same(3, abi.encode(true)));
        vm.expectRevert(abi.encodeWithSelector(IAgentOracle.TooFewFamilies.selector, 1, 2));
        oracle.fulfill(id, report1);

        bytes[] memory vs = same(4, abi.encode(true));
        vs[3] = abi.encode(false); // the other family disagrees: in the report, not in the agreement
        IAgentOracle.Answer[] memory report2 = signed(id, range(4), vs);
        vm.expectRevert(abi.encodeWithSelector(IAgentOracle.TooFewFamilies.selector, 1, 2));
        oracle.fulfill(id, report2);

        IAgentOracle.Answer[] memory a = signed(id, range(4), same(4, abi.encode(true)));
        for (uint256 i; i < 4; ++i) {
            if (a[i].modelId == modelOf[keys[3]]) (a[i].value, a[i].salt) = ("", bytes32(0)); // sealed, never revealed
        }
        vm.expectRevert(abi.encodeWithSelector(IAgentOracle.TooFewFamilies.selector, 1, 2));
        oracle.fulfill(id, a);

        oracle.fulfill(id, signed(id, range(4), same(4, abi.encode(true))));
        assertTrue(status(id) == IAgentOracle.Status.Fulfilled, "settled once the other family agrees");
    }

    /// Different weights, quantisation or sampling within a family are one family: the model ids
    /// differ, the first 4 bytes do not.
    function testOneFamilyUnderSeveralModelIdsCountsOnce() public {
        _families([SMOL, SMOL, SMOL, SMOL]); // four different model ids
        uint256 id = _ask(IAgentOracle.Kind.Bool, 2);
        IAgentOracle.Answer[] memory report3 = signed(id, range(4), same(4, abi.encode(true)));
        vm.expectRevert(abi.encodeWithSelector(IAgentOracle.TooFewFamilies.selector, 1, 2));
        oracle.fulfill(id, report3);
    }

    /// The other family's node sealed another answer, then reveals the winning one to be counted
    /// (and paid): the reveal does not open its seal, so it is no family.
    function testAChangedRevealIsNotAFamily() public {
        _families([SMOL, SMOL, SMOL, GEMMA]);
        uint256 id = _ask(IAgentOracle.Kind.Bool, 2);
        bytes[] memory vs = same(4, abi.encode(true));
        vs[3] = abi.encode(false);
        IAgentOracle.Answer[] memory a = signed(id, range(4), vs);
        for (uint256 i; i < 4; ++i) {
            if (a[i].modelId == modelOf[keys[3]]) a[i].value = abi.encode(true); // changes its mind after the reveals
        }
        vm.expectRevert(abi.encodeWithSelector(IAgentOracle.TooFewFamilies.selector, 1, 2));
        oracle.fulfill(id, a);
    }

    /// Numeric kinds count families over the honest band: seven nodes, the only Gemma node lies
    /// far outside; its observation is in the report but not in the band, so it is not a family.
    function testNumericCountsOnlyTheHonestBand() public {
        deployWith(7); // f = 2, quorum 5
        for (uint256 i; i < 6; ++i) modelOf[keys[i]] = _model(SMOL, "smol");
        modelOf[keys[6]] = _model(GEMMA, "gemma");
        uint256 id = _ask(IAgentOracle.Kind.Uint, 2);
        bytes[] memory vs = new bytes[](7);
        for (uint256 i; i < 6; ++i) vs[i] = abi.encode(uint256(8));
        vs[6] = abi.encode(uint256(1e30));
        IAgentOracle.Answer[] memory report4 = signed(id, range(7), vs);
        vm.expectRevert(abi.encodeWithSelector(IAgentOracle.TooFewFamilies.selector, 1, 2));
        oracle.fulfill(id, report4);
        vs[6] = abi.encode(uint256(8)); // within the band: counted
        oracle.fulfill(id, signed(id, range(7), vs));
        assertTrue(status(id) == IAgentOracle.Status.Fulfilled, "settled");
    }

    /// Requirements that no report could meet are refused when asked, not left to expire.
    function testImpossibleRequirementsAreRefused() public {
        vm.expectRevert(abi.encodeWithSelector(IAgentOracle.FamiliesOutOfRange.selector, 5, 4));
        _ask(IAgentOracle.Kind.Bool, 5);
        vm.expectRevert(abi.encodeWithSelector(IAgentOracle.FamiliesOutOfRange.selector, 2, 1));
        oracle.requestPinned{value: FEE}("q", IAgentOracle.Kind.Bool, "", 0, MODEL, 0, 0, 2); // one model is one family
        uint256 any = _ask(IAgentOracle.Kind.Bool, 1);
        assertEq(oracle.requests(any).minFamilies, 0, "0 and 1 both mean any");
        oracle.fulfill(any, signed(any, range(3), same(3, abi.encode(true))));
    }

    /// Fuzz: random families and answers; a report settles iff the agreeing nodes span enough families.
    function testFuzzSettlesExactlyWhenTheAgreeingNodesSpanEnoughFamilies(uint8 familyBits, uint8 answerBits, uint8 minFamilies) public {
        minFamilies = uint8(_bound(minFamilies, 0, 4));
        bytes4[4] memory tags = [SMOL, GEMMA, bytes4(sha256("qwen2.5")), bytes4(sha256("llama3"))];
        for (uint256 i; i < 4; ++i) modelOf[keys[i]] = _model(tags[(familyBits >> (2 * i)) & 3], "m");
        uint256 id = _ask(IAgentOracle.Kind.Bool, minFamilies);
        bytes[] memory vs = new bytes[](4);
        uint256 yes;
        for (uint256 i; i < 4; ++i) {
            bool v = (answerBits >> i) & 1 == 1;
            vs[i] = abi.encode(v);
            if (v) ++yes;
        }
        bool winner = yes >= 3;
        if (!winner && 4 - yes < 3) {
            IAgentOracle.Answer[] memory report5 = signed(id, range(4), vs);
            vm.expectRevert();
            oracle.fulfill(id, report5);
            return;
        }
        bytes4[4] memory seen;
        uint256 count;
        for (uint256 i; i < 4; ++i) {
            if (((answerBits >> i) & 1 == 1) != winner) continue;
            bytes4 t = bytes4(modelOf[keys[i]]);
            bool dup;
            for (uint256 j; j < count; ++j) if (seen[j] == t) dup = true;
            if (!dup) seen[count++] = t;
        }
        IAgentOracle.Answer[] memory report = signed(id, range(4), vs);
        if (minFamilies > 1 && count < minFamilies) {
            vm.expectRevert(abi.encodeWithSelector(IAgentOracle.TooFewFamilies.selector, count, minFamilies));
        }
        oracle.fulfill(id, report);
    }
}
