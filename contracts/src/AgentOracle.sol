// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IAgentOracle, IAgentOracleConsumer} from "./IAgentOracle.sol";

/// @title AgentOracle
/// @notice Contracts ask a question; independent nodes answer with their own models; a result
/// lands when a quorum of the request's registry epoch signed it (see IAgentOracle for the fault
/// model and the typed data). The fee is credited to the signers (pull: `withdraw`).
///
/// Storage is kept lean for fulfilment: a node's credit lives in the same slot as its
/// registration (written at registration, so even a first credit is a warm non-zero write),
/// and a request is two packed slots plus its commitment, cleared when it settles.
contract AgentOracle is IAgentOracle {
    /// A node's registration and credit in one slot; 96 bits spare (stake, issue 10).
    struct NodeSlot {
        uint96 credit;
        uint32 since; // first epoch it signs for (0: never registered)
        uint32 until; // first epoch it no longer signs for (NEVER while registered)
    }

    bytes32 public constant REQUEST_TYPEHASH = keccak256(
        "Request(uint256 requestId,address consumer,bytes32 promptHash,uint8 kind,bytes32 optionsHash,bytes32 modelId,uint64 deadline,uint96 fee,uint32 callbackGasLimit,uint32 epoch)"
    );
    bytes32 public constant ANSWER_TYPEHASH = keccak256("Answer(bytes32 commitment,bytes32 answerHash,bytes32 modelId)");
    bytes32 public constant UNANSWERABLE_TYPEHASH =
        keccak256("Unanswerable(bytes32 commitment,uint8 reason,bytes32 modelId)");
    bytes32 private constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    uint256 private constant HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0;
    uint32 private constant NEVER = type(uint32).max;

    uint256 public constant MAX_NODES = 31;
    uint256 public constant MAX_LABELS = 64;
    uint256 public constant MAX_TEXT_BYTES = 256;
    uint256 public constant MAX_DELAY = 30 days;
    uint256 public constant MAX_TIMEOUT = 30 days;
    uint256 public constant MAX_PROMPT_BYTES = 65_536;
    uint256 public constant MAX_CALLBACK_GAS = 5_000_000;
    uint256 private constant CALLBACK_RESERVE = 10_000; // gas kept back for bookkeeping after the callback
    uint256 private constant UNANSWERED_OVERHEAD = 40_000; // intrinsic + calldata + what runs after the gas is read
    uint256 private constant MAX_TIP = 2 gwei; // reimbursement price cap over the base fee

    address public owner;
    address public pendingOwner;
    uint32 public epoch;
    uint8 public f;
    uint8 public quorum;
    Params private _params;
    uint256 public nextRequestId = 1;
    address[] private _nodes;
    mapping(address => NodeSlot) private _node;
    mapping(uint256 => Request) private _requests;
    mapping(address => uint256) public refunds;

    address[] private _proposedNodes;
    uint64 private _nodesEta;
    Params private _proposedParams;
    uint64 private _paramsEta;

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner();
        _;
    }

    constructor(address[] memory nodes_, Params memory params_) {
        owner = msg.sender;
        emit OwnershipTransferred(address(0), msg.sender);
        _checkParams(params_);
        _params = params_;
        emit ParamsChanged(params_);
        _setNodes(nodes_);
    }

    // ------------------------------------------------------------------ views

    function requests(uint256 requestId) external view returns (Request memory) {
        return _requests[requestId];
    }

    function statusOf(uint256 requestId) external view returns (Status) {
        return _requests[requestId].status;
    }

    function credits(address account) external view returns (uint256) {
        return uint256(_node[account].credit) + refunds[account];
    }

    function nodes() external view returns (address[] memory) {
        return _nodes;
    }

    function isNode(address node) external view returns (bool) {
        return _node[node].until == NEVER;
    }

    function isSignerOf(address node, uint32 epoch_) public view returns (bool) {
        NodeSlot memory s = _node[node];
        return s.since != 0 && s.since <= epoch_ && epoch_ < s.until;
    }

    function params() external view returns (Params memory) {
        return _params;
    }

    function pendingNodes() external view returns (address[] memory, uint64) {
        return (_proposedNodes, _nodesEta);
    }

    function pendingParams() external view returns (Params memory, uint64) {
        return (_proposedParams, _paramsEta);
    }

    function domainSeparator() public view returns (bytes32) {
        return keccak256(abi.encode(DOMAIN_TYPEHASH, keccak256("AgentOracle"), keccak256("2"), block.chainid, address(this)));
    }

    function commitmentOf(
        uint256 requestId,
        address consumer,
        bytes32 promptHash,
        Kind kind,
        bytes32 optionsHash,
        bytes32 modelId,
        uint64 deadline,
        uint96 fee,
        uint32 callbackGasLimit,
        uint32 epoch_
    ) public pure returns (bytes32) {
        return keccak256(
            abi.encode(
                REQUEST_TYPEHASH,
                requestId,
                consumer,
                promptHash,
                uint8(kind),
                optionsHash,
                modelId,
                deadline,
                fee,
                callbackGasLimit,
                epoch_
            )
        );
    }

    function answerDigest(bytes32 commitment, bytes calldata value, bytes32 modelId) external view returns (bytes32) {
        return _digest(domainSeparator(), keccak256(abi.encode(ANSWER_TYPEHASH, commitment, keccak256(value), modelId)));
    }

    function verdictDigest(bytes32 commitment, uint8 reason, bytes32 modelId) external view returns (bytes32) {
        return _digest(domainSeparator(), keccak256(abi.encode(UNANSWERABLE_TYPEHASH, commitment, reason, modelId)));
    }

    // ------------------------------------------------------------------ requests

    function request(string calldata prompt, Kind kind, bytes calldata options, uint32 callbackGasLimit)
        external
        payable
        returns (uint256)
    {
        return _request(prompt, kind, options, callbackGasLimit, bytes32(0), 0);
    }

    function requestPinned(
        string calldata prompt,
        Kind kind,
        bytes calldata options,
        uint32 callbackGasLimit,
        bytes32 modelId,
        uint64 timeout
    ) external payable returns (uint256) {
        return _request(prompt, kind, options, callbackGasLimit, modelId, timeout);
    }

    function _request(
        string calldata prompt,
        Kind kind,
        bytes calldata options,
        uint32 callbackGasLimit,
        bytes32 modelId,
        uint64 timeout
    ) internal returns (uint256 id) {
        Params memory p = _params;
        uint256 size = bytes(prompt).length;
        if (size == 0) revert EmptyPrompt();
        if (size > p.maxPromptBytes) revert PromptTooLarge(size, p.maxPromptBytes);
        if (options.length > p.maxOptionsBytes) revert OptionsTooLarge(options.length, p.maxOptionsBytes);
        uint16 labels;
        if (kind == Kind.Choice) labels = _countLabels(options);
        else if (options.length != 0) revert OptionsNotAllowed(kind);
        if (timeout == 0) timeout = p.defaultTimeout;
        if (timeout < p.minTimeout || timeout > p.maxTimeout) revert TimeoutOutOfRange(timeout, p.minTimeout, p.maxTimeout);
        if (callbackGasLimit > p.maxCallbackGas) revert CallbackGasTooHigh(callbackGasLimit, p.maxCallbackGas);
        if (msg.value > type(uint96).max) revert FeeTooLarge(msg.value);

        id = nextRequestId++;
        Request storage r = _requests[id];
        r.consumer = msg.sender;
        r.deadline = uint64(block.timestamp) + timeout;
        r.callbackGasLimit = callbackGasLimit;
        r.fee = uint96(msg.value);
        r.epoch = epoch;
        r.kind = kind;
        r.status = Status.Pending;
        r.quorum = quorum;
        r.labels = labels;
        if (modelId != bytes32(0)) {
            r.pinned = true;
            r.modelId = modelId;
        }
        r.commitment = _commit(r, id, keccak256(bytes(prompt)), keccak256(options), modelId);
        _announce(id, prompt, options);
    }

    function _announce(uint256 id, string calldata prompt, bytes calldata options) internal {
        emit Requested(id, msg.sender, _requests[id], prompt, options);
    }

    function _commit(Request storage r, uint256 id, bytes32 promptHash, bytes32 optionsHash, bytes32 modelId)
        internal
        view
        returns (bytes32)
    {
        return commitmentOf(id, r.consumer, promptHash, r.kind, optionsHash, modelId, r.deadline, r.fee, r.callbackGasLimit, r.epoch);
    }

    /// Anyone, once the deadline has passed: the fee goes back to the requester's refunds.
    function cancel(uint256 requestId) external {
        Request storage r = _requests[requestId];
        if (r.status != Status.Pending) revert NotPending(requestId);
        if (block.timestamp <= r.deadline) revert DeadlineNotReached(requestId, r.deadline);
        r.status = Status.Cancelled;
        r.commitment = bytes32(0);
        uint256 refund = r.fee;
        if (refund > 0) refunds[r.consumer] += refund;
        emit Cancelled(requestId, refund);
    }

    // ------------------------------------------------------------------ fulfilment

    /// What every answer of one request is checked against (kept in memory: few stack slots).
    struct Round {
        uint256 requestId;
        bytes32 domain;
        bytes32 commitment;
        bytes32 pinned;
        bytes32 firstHash;
        uint256 share;
        uint32 epoch;
        Kind kind;
        uint16 labels;
    }

    /// Submit at least a quorum of signed answers, in ascending signer order. Every signer is paid
    /// an equal share; numeric kinds take the lower median of all the observations given.
    function fulfill(uint256 requestId, Answer[] calldata answers) external {
        Request storage r = _requests[requestId];
        Round memory c = _open(r, requestId, answers.length);
        c.kind = r.kind;
        c.labels = r.labels;
        if (r.pinned) c.pinned = r.modelId;
        c.firstHash = keccak256(answers[0].value);
        c.share = r.fee / answers.length;

        uint256 n = answers.length;
        address[] memory signers = new address[](n);
        bytes32[] memory modelIds = new bytes32[](n);
        address prev;
        for (uint256 i; i < n; ++i) {
            address signer = _checkAnswer(c, answers[i], i);
            if (signer <= prev) {
                if (signer == prev) revert DuplicateSigner(signer);
                revert SignersNotSorted(i);
            }
            prev = signer;
            signers[i] = signer;
            modelIds[i] = answers[i].modelId;
        }
        uint256 rest = r.fee - c.share * n; // the remainder (< n wei) goes to the first signer
        if (rest != 0) _node[signers[0]].credit += uint96(rest);

        bytes memory result =
            c.kind == Kind.Uint || c.kind == Kind.Int ? abi.encode(_median(answers, c.kind == Kind.Int)) : answers[0].value;
        r.status = Status.Fulfilled;
        r.commitment = bytes32(0);
        bool ok = _callback(
            r.consumer, r.callbackGasLimit, abi.encodeCall(IAgentOracleConsumer.onOracleResult, (requestId, result))
        );
        emit Fulfilled(requestId, result, signers, modelIds, ok);
    }

    /// Submit at least a quorum of signed verdicts that the request cannot be answered: it settles
    /// at once; the transmitter is reimbursed its gas (capped) and the rest is refunded.
    function settleUnanswerable(uint256 requestId, Verdict[] calldata verdicts) external {
        uint256 gasStart = gasleft();
        Request storage r = _requests[requestId];
        Round memory c = _open(r, requestId, verdicts.length);
        uint256 n = verdicts.length;
        address[] memory signers = new address[](n);
        uint8[] memory reasons = new uint8[](n);
        uint256[6] memory votes;
        address prev;
        for (uint256 i; i < n; ++i) {
            uint8 reason = verdicts[i].reason;
            if (reason == 0 || reason > uint8(type(Reason).max)) revert BadReason(i);
            bytes32 structHash = keccak256(abi.encode(UNANSWERABLE_TYPEHASH, c.commitment, reason, verdicts[i].modelId));
            address signer = _recover(_digest(c.domain, structHash), verdicts[i].signature, i);
            if (!isSignerOf(signer, c.epoch)) revert UnknownSigner(signer);
            if (signer <= prev) {
                if (signer == prev) revert DuplicateSigner(signer);
                revert SignersNotSorted(i);
            }
            prev = signer;
            signers[i] = signer;
            reasons[i] = reason;
            votes[reason]++;
        }
        uint8 top = 1;
        for (uint8 k = 2; k < 6; ++k) {
            if (votes[k] > votes[top]) top = k;
        }
        r.status = Status.Unanswerable;
        r.commitment = bytes32(0);
        bool ok = _callback(r.consumer, r.callbackGasLimit, abi.encodeCall(IAgentOracleConsumer.onOracleUnanswered, (requestId, top)));

        uint256 fee = r.fee;
        uint256 price = tx.gasprice < block.basefee + MAX_TIP ? tx.gasprice : block.basefee + MAX_TIP;
        uint256 reimbursement = (gasStart - gasleft() + UNANSWERED_OVERHEAD) * price;
        if (reimbursement > fee) reimbursement = fee;
        if (reimbursement != 0) {
            if (_node[msg.sender].since != 0) _node[msg.sender].credit += uint96(reimbursement);
            else refunds[msg.sender] += reimbursement;
        }
        if (fee > reimbursement) refunds[r.consumer] += fee - reimbursement;
        emit Unanswered(requestId, reasons, signers, fee - reimbursement, reimbursement, ok);
    }

    /// The checks shared by both settlements; returns the round's context.
    function _open(Request storage r, uint256 requestId, uint256 count) internal view returns (Round memory c) {
        if (r.status != Status.Pending) revert NotPending(requestId);
        if (block.timestamp > r.deadline) revert DeadlinePassed(requestId);
        if (count < r.quorum) revert QuorumNotMet(count, r.quorum);
        c.requestId = requestId;
        c.domain = domainSeparator();
        c.commitment = r.commitment;
        c.epoch = r.epoch;
    }

    /// One answer: right model, right shape, same value (non-numeric kinds), signed by a node of
    /// the request's epoch; credits the signer's share in the slot its registration just warmed.
    function _checkAnswer(Round memory c, Answer calldata a, uint256 i) internal returns (address signer) {
        if (c.pinned != bytes32(0) && a.modelId != c.pinned) revert WrongModel(i, a.modelId);
        _checkShape(c.kind, c.labels, a.value, i);
        bytes32 valueHash = keccak256(a.value);
        if (c.kind != Kind.Uint && c.kind != Kind.Int && valueHash != c.firstHash) revert AnswersDisagree(i);
        bytes32 structHash = keccak256(abi.encode(ANSWER_TYPEHASH, c.commitment, valueHash, a.modelId));
        signer = _recover(_digest(c.domain, structHash), a.signature, i);
        NodeSlot storage s = _node[signer];
        (uint32 since, uint32 until) = (s.since, s.until);
        if (since == 0 || since > c.epoch || c.epoch >= until) revert UnknownSigner(signer);
        s.credit += uint96(c.share);
    }

    function _checkShape(Kind kind, uint16 labels, bytes calldata value, uint256 index) internal pure {
        if (kind == Kind.Text) {
            if (!_isText(value)) revert BadAnswer(index);
            return;
        }
        if (value.length != 32) revert BadAnswer(index);
        uint256 x = uint256(bytes32(value));
        if ((kind == Kind.Bool && x > 1) || (kind == Kind.Choice && x >= labels)) revert BadAnswer(index);
    }

    /// A strictly encoded abi.encode(string) of 1..MAX_TEXT_BYTES bytes (zero padding).
    function _isText(bytes calldata v) internal pure returns (bool) {
        if (v.length < 96 || uint256(bytes32(v[0:32])) != 32) return false;
        uint256 len = uint256(bytes32(v[32:64]));
        if (len == 0 || len > MAX_TEXT_BYTES || v.length != 64 + ((len + 31) / 32) * 32) return false;
        uint256 tail = len % 32;
        if (tail != 0) {
            uint256 last = uint256(bytes32(v[v.length - 32:]));
            if (last << (8 * tail) != 0) return false;
        }
        return true;
    }

    /// Labels of a choice: a strictly encoded abi.encode(string[]) of 2..MAX_LABELS non-empty strings.
    function _countLabels(bytes calldata o) internal pure returns (uint16) {
        if (o.length < 64 || uint256(bytes32(o[0:32])) != 32) revert BadLabels();
        uint256 count = uint256(bytes32(o[32:64]));
        if (count < 2 || count > MAX_LABELS) revert BadLabels();
        uint256 expected = 32 * count; // offsets are relative to the first offset word (byte 64)
        for (uint256 i; i < count; ++i) {
            uint256 head = 64 + 32 * i;
            if (uint256(bytes32(o[head:head + 32])) != expected) revert BadLabels();
            uint256 at = 64 + expected;
            if (o.length < at + 32) revert BadLabels();
            uint256 len = uint256(bytes32(o[at:at + 32]));
            if (len == 0 || len > o.length) revert BadLabels();
            uint256 padded = ((len + 31) / 32) * 32;
            if (o.length < at + 32 + padded) revert BadLabels();
            uint256 tail = len % 32;
            if (tail != 0 && uint256(bytes32(o[at + padded:at + padded + 32])) << (8 * tail) != 0) revert BadLabels();
            expected += 32 + padded;
        }
        if (o.length != 64 + expected) revert BadLabels();
        return uint16(count);
    }

    // ------------------------------------------------------------------ payments

    function withdraw(address to) external {
        uint256 credit = _node[msg.sender].credit;
        uint256 refund = refunds[msg.sender];
        uint256 amount = credit + refund;
        if (amount == 0) revert NothingToWithdraw();
        if (to == address(0)) revert TransferFailed();
        if (credit != 0) _node[msg.sender].credit = 0;
        if (refund != 0) refunds[msg.sender] = 0;
        emit Withdrawn(msg.sender, to, amount);
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert TransferFailed();
    }

    /// Calls the consumer with exactly its gas limit; a revert, an out-of-gas or a huge return
    /// value cannot block settlement (no return data is copied).
    function _callback(address consumer, uint32 gasLimit, bytes memory data) internal returns (bool ok) {
        // EIP-150 forwards at most 63/64 of what is left: make sure the consumer really gets its limit
        if (gasleft() < (uint256(gasLimit) * 64) / 63 + CALLBACK_RESERVE) revert NotEnoughGasForCallback();
        assembly {
            ok := call(gasLimit, consumer, 0, add(data, 0x20), mload(data), 0, 0)
        }
    }

    // ------------------------------------------------------------------ administration

    function proposeNodes(address[] calldata nodes_) external onlyOwner {
        _checkNodes(nodes_);
        _proposedNodes = nodes_;
        _nodesEta = uint64(block.timestamp) + _params.delay;
        emit NodesProposed(nodes_, _nodesEta);
    }

    function proposeParams(Params calldata params_) external onlyOwner {
        _checkParams(params_);
        _proposedParams = params_;
        _paramsEta = uint64(block.timestamp) + _params.delay;
        emit ParamsProposed(params_, _paramsEta);
    }

    /// Anyone, once the proposal is due.
    function applyNodes() external {
        uint64 eta = _nodesEta;
        if (eta == 0) revert NoProposal();
        if (block.timestamp < eta) revert ProposalNotDue(eta);
        address[] memory next = _proposedNodes;
        delete _proposedNodes;
        _nodesEta = 0;
        _setNodes(next);
    }

    function applyParams() external {
        uint64 eta = _paramsEta;
        if (eta == 0) revert NoProposal();
        if (block.timestamp < eta) revert ProposalNotDue(eta);
        _params = _proposedParams;
        delete _proposedParams;
        _paramsEta = 0;
        emit ParamsChanged(_params);
    }

    function cancelProposal(bool registry) external onlyOwner {
        if (registry) {
            if (_nodesEta == 0) revert NoProposal();
            delete _proposedNodes;
            _nodesEta = 0;
        } else {
            if (_paramsEta == 0) revert NoProposal();
            delete _proposedParams;
            _paramsEta = 0;
        }
        emit ProposalCancelled(registry);
    }

    /// Step one: name the next owner (zero cancels); it takes over with `acceptOwnership`.
    function transferOwnership(address newOwner) external onlyOwner {
        pendingOwner = newOwner;
        emit OwnershipTransferStarted(msg.sender, newOwner);
    }

    function acceptOwnership() external {
        if (msg.sender != pendingOwner) revert NotPendingOwner();
        emit OwnershipTransferred(owner, msg.sender);
        owner = msg.sender;
        pendingOwner = address(0);
    }

    function _checkNodes(address[] memory list) internal pure {
        uint256 n = list.length;
        if (n == 0 || n > MAX_NODES) revert BadRegistry(n);
        for (uint256 i; i < n; ++i) {
            if (list[i] == address(0)) revert BadRegistry(n);
            for (uint256 j; j < i; ++j) {
                if (list[i] == list[j]) revert DuplicateNode(list[i]);
            }
        }
    }

    /// A new epoch: nodes that stay keep signing for older epochs too; f and the quorum derived.
    function _setNodes(address[] memory list) internal {
        _checkNodes(list);
        uint32 next = epoch + 1;
        for (uint256 i; i < _nodes.length; ++i) {
            _node[_nodes[i]].until = next;
        }
        for (uint256 i; i < list.length; ++i) {
            NodeSlot storage s = _node[list[i]];
            if (s.since == 0 || s.until != next) s.since = next; // new, or back after a gap
            s.until = NEVER;
        }
        uint256 n = list.length;
        uint256 f_ = (n - 1) / 3;
        uint256 q = (n + f_) / 2 + 1;
        _nodes = list;
        epoch = next;
        f = uint8(f_);
        quorum = uint8(q);
        emit RegistryChanged(next, list, uint8(f_), uint8(q));
    }

    function _checkParams(Params memory p) internal pure {
        if (
            p.delay > MAX_DELAY || p.minTimeout == 0 || p.minTimeout > p.defaultTimeout || p.defaultTimeout > p.maxTimeout
                || p.maxTimeout > MAX_TIMEOUT || p.maxPromptBytes == 0 || p.maxPromptBytes > MAX_PROMPT_BYTES
                || p.maxOptionsBytes > MAX_PROMPT_BYTES || p.maxCallbackGas > MAX_CALLBACK_GAS
        ) revert BadParams();
    }

    // ------------------------------------------------------------------ crypto and maths

    function _digest(bytes32 domain, bytes32 structHash) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked("\x19\x01", domain, structHash));
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

    /// Lower median of the observations. Signed values are compared with their sign bit
    /// flipped, which maps int256 order onto uint256 order, so one sort serves both kinds.
    /// With at least 2f+1 observations of which at most f lie, it lies within the honest ones.
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
