// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IAgentOracle, IAgentOracleConsumer} from "./IAgentOracle.sol";

/// @title AgentOracle
/// @notice Contracts ask a question; independent nodes answer with their own models, and a
/// result lands when at least `quorum` distinct registered nodes signed it (EIP-712 over chain
/// id, this contract, requestId, keccak(answer), modelId). Numeric kinds take the median of the
/// signed observations. The fee is credited to the signers that agreed (pull: `withdraw`).
contract AgentOracle is IAgentOracle {
    enum Status {
        None,
        Pending,
        Fulfilled,
        Cancelled
    }

    struct Request {
        address consumer; // slot 0
        uint64 deadline;
        uint32 callbackGasLimit;
        uint96 fee; // slot 1
        Kind kind;
        Status status;
        bytes32 modelId; // slot 2: zero = any model
    }

    /// One node's signed answer. `signature` is 65 bytes (r, s, v) over the EIP-712 Answer.
    struct Answer {
        bytes value;
        bytes32 modelId;
        bytes signature;
    }

    bytes32 public constant ANSWER_TYPEHASH =
        keccak256("Answer(uint256 requestId,bytes32 answerHash,bytes32 modelId)");
    bytes32 private constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    uint256 private constant HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0;
    uint32 public constant MAX_CALLBACK_GAS = 2_000_000;
    uint256 private constant CALLBACK_RESERVE = 10_000; // gas kept back for bookkeeping after the callback

    address public owner;
    uint8 public quorum;
    uint64 public defaultTimeout = 1 hours;
    uint256 public nextRequestId = 1;
    mapping(address => bool) public isNode;
    address[] private _nodes;
    mapping(uint256 => Request) public requests;
    mapping(uint256 => bytes32) public resultHash;
    mapping(address => uint256) public credits;

    event Requested(
        uint256 indexed requestId,
        address indexed consumer,
        bytes32 modelId,
        string prompt,
        Kind kind,
        bytes options,
        uint256 fee,
        uint64 deadline
    );
    event Fulfilled(uint256 indexed requestId, bytes result, address[] signers, bytes32[] modelIds, bool callbackOk);
    event Cancelled(uint256 indexed requestId, uint256 refund);
    event NodeAdded(address indexed node);
    event NodeRemoved(address indexed node);
    event QuorumChanged(uint8 quorum);
    event Withdrawn(address indexed to, uint256 amount);

    error NotOwner();
    error BadQuorum(uint256 quorum, uint256 nodes);
    error AlreadyNode(address node);
    error NotNode(address node);
    error CallbackGasTooHigh(uint32 limit);
    error FeeTooLarge();
    error NotPending(uint256 requestId);
    error DeadlinePassed(uint256 requestId);
    error DeadlineNotReached(uint256 requestId, uint64 deadline);
    error QuorumNotMet(uint256 signers, uint8 quorum);
    error BadSignature(uint256 index);
    error UnknownSigner(address signer);
    error DuplicateSigner(address signer);
    error SignersNotSorted(uint256 index);
    error WrongModel(uint256 index, bytes32 modelId);
    error AnswersDisagree(uint256 index);
    error BadAnswer(uint256 index);
    error NotEnoughGasForCallback();
    error NothingToWithdraw();
    error TransferFailed();

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner();
        _;
    }

    constructor(address[] memory nodes_, uint8 quorum_) {
        owner = msg.sender;
        for (uint256 i; i < nodes_.length; ++i) {
            _addNode(nodes_[i]);
        }
        _setQuorum(quorum_);
    }

    // ------------------------------------------------------------------ registry

    function nodes() external view returns (address[] memory) {
        return _nodes;
    }

    function addNode(address node) external onlyOwner {
        _addNode(node);
    }

    function removeNode(address node) external onlyOwner {
        if (!isNode[node]) revert NotNode(node);
        isNode[node] = false;
        uint256 n = _nodes.length;
        for (uint256 i; i < n; ++i) {
            if (_nodes[i] == node) {
                _nodes[i] = _nodes[n - 1];
                _nodes.pop();
                break;
            }
        }
        if (quorum > _nodes.length) revert BadQuorum(quorum, _nodes.length);
        emit NodeRemoved(node);
    }

    function setQuorum(uint8 quorum_) external onlyOwner {
        _setQuorum(quorum_);
    }

    function setDefaultTimeout(uint64 timeout) external onlyOwner {
        defaultTimeout = timeout;
    }

    function transferOwnership(address newOwner) external onlyOwner {
        owner = newOwner;
    }

    function _addNode(address node) internal {
        if (isNode[node] || node == address(0)) revert AlreadyNode(node);
        isNode[node] = true;
        _nodes.push(node);
        emit NodeAdded(node);
    }

    function _setQuorum(uint8 quorum_) internal {
        // a majority of the registry, so that two disjoint quorums cannot both exist
        if (quorum_ == 0 || quorum_ > _nodes.length || 2 * uint256(quorum_) <= _nodes.length) {
            revert BadQuorum(quorum_, _nodes.length);
        }
        quorum = quorum_;
        emit QuorumChanged(quorum_);
    }

    // ------------------------------------------------------------------ requests

    function request(string calldata prompt, Kind kind, bytes calldata options, uint32 callbackGasLimit)
        external
        payable
        returns (uint256)
    {
        return _request(prompt, kind, options, callbackGasLimit, bytes32(0), defaultTimeout);
    }

    function requestPinned(
        string calldata prompt,
        Kind kind,
        bytes calldata options,
        uint32 callbackGasLimit,
        bytes32 modelId,
        uint64 timeout
    ) external payable returns (uint256) {
        return _request(prompt, kind, options, callbackGasLimit, modelId, timeout == 0 ? defaultTimeout : timeout);
    }

    function _request(
        string calldata prompt,
        Kind kind,
        bytes calldata options,
        uint32 callbackGasLimit,
        bytes32 modelId,
        uint64 timeout
    ) internal returns (uint256 id) {
        if (callbackGasLimit > MAX_CALLBACK_GAS) revert CallbackGasTooHigh(callbackGasLimit);
        if (msg.value > type(uint96).max) revert FeeTooLarge();
        id = nextRequestId++;
        uint64 deadline = uint64(block.timestamp) + timeout;
        requests[id] = Request(msg.sender, deadline, callbackGasLimit, uint96(msg.value), kind, Status.Pending, modelId);
        emit Requested(id, msg.sender, modelId, prompt, kind, options, msg.value, deadline);
    }

    function cancel(uint256 requestId) external {
        Request storage r = requests[requestId];
        if (r.status != Status.Pending) revert NotPending(requestId);
        if (block.timestamp <= r.deadline) revert DeadlineNotReached(requestId, r.deadline);
        r.status = Status.Cancelled;
        uint256 refund = r.fee;
        emit Cancelled(requestId, refund);
        if (refund > 0) {
            (bool ok,) = r.consumer.call{value: refund}("");
            if (!ok) credits[r.consumer] += refund; // a consumer that cannot receive ETH withdraws it
        }
    }

    // ------------------------------------------------------------------ fulfilment

    function domainSeparator() public view returns (bytes32) {
        return keccak256(abi.encode(DOMAIN_TYPEHASH, keccak256("AgentOracle"), keccak256("1"), block.chainid, address(this)));
    }

    function answerDigest(uint256 requestId, bytes memory value, bytes32 modelId) public view returns (bytes32) {
        bytes32 structHash = keccak256(abi.encode(ANSWER_TYPEHASH, requestId, keccak256(value), modelId));
        return keccak256(abi.encodePacked("\x19\x01", domainSeparator(), structHash));
    }

    /// @notice Submit a quorum of signed answers. Answers must come in ascending signer order.
    function fulfill(uint256 requestId, Answer[] calldata answers) external {
        Request storage r = requests[requestId];
        if (r.status != Status.Pending) revert NotPending(requestId);
        if (block.timestamp > r.deadline) revert DeadlinePassed(requestId);
        if (answers.length < quorum) revert QuorumNotMet(answers.length, quorum);
        Kind kind = r.kind;
        (address[] memory signers, bytes32[] memory modelIds) = _verify(requestId, kind, r.modelId, answers);
        bytes memory result =
            kind == Kind.Uint || kind == Kind.Int ? abi.encode(_median(answers, kind == Kind.Int)) : answers[0].value;
        r.status = Status.Fulfilled;
        resultHash[requestId] = keccak256(result);
        _pay(r.fee, signers);
        bool ok = _callback(r.consumer, r.callbackGasLimit, requestId, result);
        emit Fulfilled(requestId, result, signers, modelIds, ok);
    }

    /// What every answer of one request is checked against.
    struct Check {
        uint256 requestId;
        Kind kind;
        bytes32 pinned;
        bytes32 domain;
        bytes32 firstHash;
    }

    /// Every answer: right model, right shape, same value (non-numeric kinds), signed by a
    /// distinct registered node, in ascending signer order (which rules out duplicates cheaply).
    function _verify(uint256 requestId, Kind kind, bytes32 pinned, Answer[] calldata answers)
        internal
        view
        returns (address[] memory signers, bytes32[] memory modelIds)
    {
        Check memory c = Check(requestId, kind, pinned, domainSeparator(), keccak256(answers[0].value));
        signers = new address[](answers.length);
        modelIds = new bytes32[](answers.length);
        address prev;
        for (uint256 i; i < answers.length; ++i) {
            address signer = _checkAnswer(c, answers[i], i);
            if (signer <= prev) {
                if (signer == prev) revert DuplicateSigner(signer);
                revert SignersNotSorted(i);
            }
            prev = signer;
            signers[i] = signer;
            modelIds[i] = answers[i].modelId;
        }
    }

    function _checkAnswer(Check memory c, Answer calldata a, uint256 i) internal view returns (address signer) {
        if (c.pinned != bytes32(0) && a.modelId != c.pinned) revert WrongModel(i, a.modelId);
        _checkShape(c.kind, a.value, i);
        bytes32 valueHash = keccak256(a.value);
        if (c.kind != Kind.Uint && c.kind != Kind.Int && valueHash != c.firstHash) revert AnswersDisagree(i);
        bytes32 structHash = keccak256(abi.encode(ANSWER_TYPEHASH, c.requestId, valueHash, a.modelId));
        signer = _recover(keccak256(abi.encodePacked("\x19\x01", c.domain, structHash)), a.signature, i);
        if (!isNode[signer]) revert UnknownSigner(signer);
    }

    function _pay(uint256 fee, address[] memory signers) internal {
        if (fee == 0) return;
        uint256 n = signers.length;
        uint256 share = fee / n;
        for (uint256 i; i < n; ++i) {
            credits[signers[i]] += share;
        }
        credits[signers[0]] += fee - share * n; // the remainder (< n wei)
    }

    function withdraw() external {
        uint256 amount = credits[msg.sender];
        if (amount == 0) revert NothingToWithdraw();
        credits[msg.sender] = 0;
        emit Withdrawn(msg.sender, amount);
        (bool ok,) = msg.sender.call{value: amount}("");
        if (!ok) revert TransferFailed();
    }

    /// Calls the consumer with exactly its gas limit; a revert, an out-of-gas or a huge return
    /// value cannot block fulfilment (no return data is copied).
    function _callback(address consumer, uint32 gasLimit, uint256 requestId, bytes memory result) internal returns (bool ok) {
        // EIP-150 forwards at most 63/64 of what is left: make sure the consumer really gets its limit
        if (gasleft() < (uint256(gasLimit) * 64) / 63 + CALLBACK_RESERVE) revert NotEnoughGasForCallback();
        bytes memory data = abi.encodeCall(IAgentOracleConsumer.onOracleResult, (requestId, result));
        assembly {
            ok := call(gasLimit, consumer, 0, add(data, 0x20), mload(data), 0, 0)
        }
    }

    function _recover(bytes32 digest, bytes calldata sig, uint256 index) internal pure returns (address signer) {
        if (sig.length != 65) revert BadSignature(index);
        bytes32 r_;
        bytes32 s_;
        uint8 v;
        assembly {
            r_ := calldataload(sig.offset)
            s_ := calldataload(add(sig.offset, 32))
            v := byte(0, calldataload(add(sig.offset, 64)))
        }
        if (uint256(s_) > HALF_N || (v != 27 && v != 28)) revert BadSignature(index); // no malleable twins
        signer = ecrecover(digest, v, r_, s_);
        if (signer == address(0)) revert BadSignature(index);
    }

    function _checkShape(Kind kind, bytes calldata value, uint256 index) internal pure {
        if (kind == Kind.Text) {
            if (value.length < 64) revert BadAnswer(index);
        } else {
            if (value.length != 32) revert BadAnswer(index);
            if (kind == Kind.Bool && uint256(bytes32(value)) > 1) revert BadAnswer(index);
        }
    }

    /// Lower median of the observations. Signed values are compared with their sign bit
    /// flipped, which maps int256 order onto uint256 order, so one sort serves both kinds.
    function _median(Answer[] calldata answers, bool signed) internal pure returns (uint256) {
        uint256 flip = signed ? 1 << 255 : 0;
        uint256 n = answers.length;
        uint256[] memory xs = new uint256[](n);
        for (uint256 i; i < n; ++i) {
            uint256 x = uint256(bytes32(answers[i].value)) ^ flip;
            uint256 j = i;
            while (j > 0 && xs[j - 1] > x) {
                xs[j] = xs[j - 1];
                --j;
            }
            xs[j] = x;
        }
        return xs[(n - 1) / 2] ^ flip;
    }
}
