// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IAgentOracle, IAgentOracleConsumer} from "./IAgentOracle.sol";

/// @title AgentOracle
/// @notice Contracts ask a question; independent nodes answer with their own models; a result
/// lands when a quorum of the request's registry epoch signed it (see IAgentOracle for the fault
/// model, the typed data, commit-reveal and the economics). The fee reimburses the transmitter's
/// gas and pays every node of the report whose revealed answer agreed (pull: `withdraw`).
///
/// Storage is kept lean for fulfilment: a node's credit, bond and counters live in the same slot
/// as its registration (one cold read and one write per node), and a request is two packed slots
/// plus its commitment, cleared when it settles.
contract AgentOracle is IAgentOracle {
    /// A node's registration, bond, credit and counters in one slot.
    struct NodeSlot {
        uint96 credit;
        uint32 since; // first epoch it signs for (0: never registered)
        uint32 until; // first epoch it no longer signs for (NEVER while registered)
        Bond bond;
        uint32 answered;
        uint32 agreed;
    }

    bytes32 internal constant REQUEST_TYPEHASH = keccak256(
        "Request(uint256 requestId,address consumer,bytes32 promptHash,uint8 kind,bytes32 optionsHash,bytes32 modelId,uint64 deadline,uint96 fee,uint32 callbackGasLimit,uint32 epoch)"
    );
    bytes32 internal constant COMMIT_TYPEHASH = keccak256("Commit(bytes32 commitment,bytes32 seal,bytes32 modelId)");
    bytes32 internal constant UNANSWERABLE_TYPEHASH =
        keccak256("Unanswerable(bytes32 commitment,uint8 reason,bytes32 modelId)");
    bytes32 private constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    uint256 private constant HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0;
    uint32 private constant NEVER = type(uint32).max;

    uint256 internal constant MAX_NODES = 31;
    uint256 internal constant MAX_LABELS = 64;
    uint256 internal constant MAX_TEXT_BYTES = 256;
    uint256 internal constant MAX_DELAY = 30 days;
    uint256 internal constant MAX_TIMEOUT = 30 days;
    uint256 internal constant MAX_PROMPT_BYTES = 65_536;
    uint256 internal constant MAX_CALLBACK_GAS = 5_000_000;
    uint256 private constant CALLBACK_RESERVE = 10_000; // gas kept back for bookkeeping after the callback
    uint256 private constant MAX_TIP = 2 gwei; // reimbursement price cap over the base fee
    uint256 private constant TX_GAS = 21_000;
    uint256 private constant FULFIL_TAIL = 9_000; // gas spent in `fulfill` after it reads its own gas
    uint256 private constant TAIL_PER_NODE = 1_000; // ... per node of the report (payout, event)
    uint256 private constant TEXT_GAS_PER_NODE = 3_000; // a text reveal: more calldata and hashing
    uint256 private constant HONEST_GAS = 60_000; // an honest report costs less than this (with 21k and calldata) ...
    uint256 private constant HONEST_GAS_PER_ENTRY = 30_000; // ... plus this per entry, plus its callback
    uint256 internal constant MAX_UNBONDING_DELAY = 365 days;

    /// Stake a node puts up to sign, and how long it stays slashable after it asks for it back.
    uint256 public immutable stakeAmount;
    uint64 public immutable unbondingDelay;

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
    mapping(address => uint64) private _unbondAt;

    address[] private _proposedNodes;
    uint64 private _nodesEta;
    Params private _proposedParams;
    uint64 private _paramsEta;

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner();
        _;
    }

    /// `unbondingDelay_` must be at least the longest timeout (`maxTimeout`), so that both seals of
    /// a double-signing node can reach the chain before its stake leaves.
    constructor(address[] memory nodes_, Params memory params_, uint256 stakeAmount_, uint64 unbondingDelay_) {
        if (unbondingDelay_ > MAX_UNBONDING_DELAY) revert BadParams();
        stakeAmount = stakeAmount_;
        unbondingDelay = unbondingDelay_;
        owner = msg.sender;
        emit OwnershipTransferred(address(0), msg.sender);
        _checkParams(params_, unbondingDelay_);
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

    /// Registered for the epoch and bonded (an unbonding, withdrawn or slashed node no longer
    /// counts: a seal that settles anything was made by a node slashable for `unbondingDelay` after).
    function isSignerOf(address node, uint32 epoch_) external view returns (bool) {
        return _node[node].bond == Bond.Bonded && _registered(_node[node], epoch_);
    }

    function _registered(NodeSlot storage s, uint32 epoch_) internal view returns (bool) {
        (uint32 since, uint32 until) = (s.since, s.until);
        return since != 0 && since <= epoch_ && epoch_ < until;
    }

    function nodeInfo(address node) external view returns (NodeInfo memory) {
        NodeSlot memory s = _node[node];
        return NodeInfo({
            bond: s.bond,
            unbondAt: _unbondAt[node],
            credit: s.credit,
            answered: s.answered,
            agreed: s.agreed,
            slashed: s.bond == Bond.Slashed ? 1 : 0,
            since: s.since,
            until: s.until
        });
    }

    /// The least fee of a request, for the current registry of n nodes:
    /// (fulfilGas + gasPerNode * n (+ text reveals) + callbackGasLimit) * gasPrice + premium * n.
    function estimateFee(Kind kind, uint32 callbackGasLimit, uint256 gasPrice) public view returns (uint256) {
        uint256 n = _nodes.length;
        return _pricedGas(kind, callbackGasLimit, n) * gasPrice + uint256(_params.premium) * n;
    }

    /// The gas a fee pays for with n nodes: also the most a transmitter is reimbursed (padding a
    /// report cannot turn the nodes' share into its gas).
    function _pricedGas(Kind kind, uint32 callbackGasLimit, uint256 n) internal view returns (uint256 gas) {
        gas = uint256(_params.fulfilGas) + uint256(_params.gasPerNode) * n + callbackGasLimit;
        if (kind == Kind.Text) gas += TEXT_GAS_PER_NODE * n;
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
        return keccak256(abi.encode(DOMAIN_TYPEHASH, keccak256("AgentOracle"), keccak256("3"), block.chainid, address(this)));
    }

    function _commitmentOf(
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
    ) internal pure returns (bytes32) {
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

    function commitDigest(bytes32 commitment, bytes32 seal, bytes32 modelId) public view returns (bytes32) {
        return _digest(domainSeparator(), keccak256(abi.encode(COMMIT_TYPEHASH, commitment, seal, modelId)));
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
        Choices memory none;
        return _request(prompt, kind, options, callbackGasLimit, none);
    }

    function requestPinned(
        string calldata prompt,
        Kind kind,
        bytes calldata options,
        uint32 callbackGasLimit,
        bytes32 modelId,
        uint64 timeout,
        uint64 maxGasPrice,
        uint8 minFamilies
    ) external payable returns (uint256) {
        return _request(prompt, kind, options, callbackGasLimit, Choices(modelId, timeout, maxGasPrice, minFamilies));
    }

    /// A request's optional settings (zero: the default), together to keep `_request`'s stack small.
    struct Choices {
        bytes32 modelId;
        uint64 timeout;
        uint64 maxGasPrice;
        uint8 minFamilies;
    }

    function _request(string calldata prompt, Kind kind, bytes calldata options, uint32 callbackGasLimit, Choices memory o)
        internal
        returns (uint256 id)
    {
        (uint16 labels, uint64 deadline) = _checkRequest(prompt, kind, options, callbackGasLimit, o.timeout);
        id = nextRequestId++;
        Request storage r = _requests[id];
        r.consumer = msg.sender;
        r.deadline = deadline;
        r.callbackGasLimit = callbackGasLimit;
        r.fee = uint96(msg.value);
        r.epoch = epoch;
        r.kind = kind;
        r.status = Status.Pending;
        r.quorum = quorum;
        r.f = f;
        r.labels = labels;
        r.maxGasPrice = _checkFee(kind, callbackGasLimit, o.maxGasPrice);
        if (o.modelId != bytes32(0)) {
            r.pinned = true;
            r.modelId = o.modelId;
        }
        if (o.minFamilies > 1) {
            uint256 max = r.pinned ? 1 : _nodes.length;
            if (o.minFamilies > max) revert FamiliesOutOfRange(o.minFamilies, max);
            r.minFamilies = o.minFamilies;
        }
        r.commitment = _commit(r, id, keccak256(bytes(prompt)), keccak256(options), o.modelId);
        _announce(id, prompt, options);
    }

    /// The bounds of a request; returns its label count and deadline.
    function _checkRequest(string calldata prompt, Kind kind, bytes calldata options, uint32 callbackGasLimit, uint64 timeout)
        internal
        view
        returns (uint16 labels, uint64 deadline)
    {
        Params memory p = _params;
        uint256 size = bytes(prompt).length;
        if (size == 0) revert EmptyPrompt();
        if (size > p.maxPromptBytes) revert PromptTooLarge(size, p.maxPromptBytes);
        if (options.length > p.maxOptionsBytes) revert OptionsTooLarge(options.length, p.maxOptionsBytes);
        if (kind == Kind.Choice) labels = _countLabels(options);
        else if (options.length != 0) revert OptionsNotAllowed(kind);
        if (timeout == 0) timeout = p.defaultTimeout;
        if (timeout < p.minTimeout || timeout > p.maxTimeout) revert TimeoutOutOfRange(timeout, p.minTimeout, p.maxTimeout);
        if (callbackGasLimit > p.maxCallbackGas) revert CallbackGasTooHigh(callbackGasLimit, p.maxCallbackGas);
        if (msg.value > type(uint96).max) revert FeeTooLarge(msg.value);
        deadline = uint64(block.timestamp) + timeout;
    }

    /// The request's gas-price bound (zero: this transaction's price); refuses a fee below the estimate at it.
    function _checkFee(Kind kind, uint32 callbackGasLimit, uint64 maxGasPrice) internal view returns (uint64) {
        if (maxGasPrice == 0) maxGasPrice = uint64(tx.gasprice);
        uint256 estimate = estimateFee(kind, callbackGasLimit, maxGasPrice);
        if (msg.value < estimate) revert FeeBelowEstimate(msg.value, estimate);
        return maxGasPrice;
    }

    function _announce(uint256 id, string calldata prompt, bytes calldata options) internal {
        emit Requested(id, msg.sender, _requests[id], prompt, options);
    }

    function _commit(Request storage r, uint256 id, bytes32 promptHash, bytes32 optionsHash, bytes32 modelId)
        internal
        view
        returns (bytes32)
    {
        return _commitmentOf(id, r.consumer, promptHash, r.kind, optionsHash, modelId, r.deadline, r.fee, r.callbackGasLimit, r.epoch);
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

    /// What every entry of one report is checked against (kept in memory: few stack slots).
    struct Round {
        uint256 requestId;
        bytes32 domain;
        bytes32 commitment;
        bytes32 pinned;
        uint32 epoch;
        Kind kind;
        uint16 labels;
        uint256 gasStart;
    }

    /// Submit the report (see IAgentOracle): every entry's seal must be signed by a distinct
    /// staked node of the request's epoch, in ascending signer order; reveals that do not open
    /// their seal or are malformed count as not revealed. Exact kinds need a quorum of identical
    /// reveals; numeric kinds a quorum of reveals and take their lower median. The transmitter is
    /// reimbursed its gas (capped) and the rest of the fee is shared by every agreeing node.
    function fulfill(uint256 requestId, Answer[] calldata answers) external {
        Round memory c;
        c.gasStart = gasleft();
        Request storage r = _requests[requestId];
        _open(c, r, requestId, answers.length);
        c.kind = r.kind;
        c.labels = r.labels;
        if (r.pinned) c.pinned = r.modelId;

        uint256 n = answers.length;
        address[] memory signers = new address[](n);
        bytes32[] memory modelIds = new bytes32[](n);
        bytes32[] memory hashes = new bytes32[](n); // keccak256 of each valid reveal (zero: none)
        address prev;
        for (uint256 i; i < n; ++i) {
            address signer = _checkEntry(c, answers[i], i, hashes);
            if (signer <= prev) {
                if (signer == prev) revert DuplicateSigner(signer);
                revert SignersNotSorted(i);
            }
            prev = signer;
            signers[i] = signer;
            modelIds[i] = answers[i].modelId;
        }
        (uint256 paid, bytes memory result) = c.kind == Kind.Uint || c.kind == Kind.Int
            ? _band(answers, hashes, c.kind == Kind.Int, r.quorum, r.f)
            : _majority(answers, hashes, r.quorum);
        if (r.minFamilies > 1) _checkFamilies(answers, paid, r.minFamilies);

        r.status = Status.Fulfilled;
        r.commitment = bytes32(0);
        bool ok = _callback(
            r.consumer, r.callbackGasLimit, abi.encodeCall(IAgentOracleConsumer.onOracleResult, (requestId, result))
        );
        (uint256 share, uint256 reimbursement) = _payOut(r, c.gasStart, signers, paid);
        emit Fulfilled(requestId, result, signers, modelIds, paid, share, reimbursement, ok);
    }

    /// Reimburse the transmitter (gas so far + what is left of this call, priced at the lowest of
    /// its gas price, the request's bound and basefee + MAX_TIP; at most the fee), then share the
    /// rest equally among the agreeing nodes (the remainder, < their count in wei, to the first).
    function _payOut(Request storage r, uint256 gasStart, address[] memory signers, uint256 paid)
        internal
        returns (uint256 share, uint256 reimbursement)
    {
        uint256 n = signers.length;
        uint256 gas = gasStart - gasleft() + TX_GAS + _calldataGas() + FULFIL_TAIL + TAIL_PER_NODE * n;
        uint256 fee = r.fee;
        reimbursement = _reimburse(r, gas, n);
        uint256 count;
        for (uint256 i; i < n; ++i) {
            if (paid & (1 << i) != 0) ++count;
        }
        uint256 rest = fee - reimbursement;
        share = rest / count;
        uint256 dust = rest - share * count;
        for (uint256 i; i < n; ++i) {
            if (paid & (1 << i) == 0) continue;
            NodeSlot storage s = _node[signers[i]]; // written by _checkEntry: a warm, dirty slot
            s.credit += uint96(share + dust);
            s.agreed += 1;
            dust = 0;
        }
    }

    /// Credits `gas` at the capped price to the transmitter (its node credit when it is a node).
    /// Beyond what an honest report of n entries costs, the gas is capped at what the fee priced
    /// (padding cannot turn the nodes' share into the transmitter's gas; an honest report does not
    /// pay for reading the parameters). What runs after the gas is read is added: a cold read,
    /// then a new refund slot or a change of a non-zero one.
    function _reimburse(Request storage r, uint256 gas, uint256 n) internal returns (uint256 amount) {
        bool node = _node[msg.sender].since != 0;
        gas += 2_100 + (node || refunds[msg.sender] != 0 ? 2_900 : 20_000);
        uint32 callbackGas = r.callbackGasLimit;
        if (gas > HONEST_GAS + HONEST_GAS_PER_ENTRY * n + callbackGas) {
            uint256 cap = _pricedGas(r.kind, callbackGas, n);
            if (gas > cap) gas = cap;
        }
        uint256 fee = r.fee;
        uint256 price = tx.gasprice;
        if (price > r.maxGasPrice) price = r.maxGasPrice;
        if (price > block.basefee + MAX_TIP) price = block.basefee + MAX_TIP;
        amount = gas * price;
        if (amount > fee) amount = fee;
        if (amount != 0) {
            if (node) _node[msg.sender].credit += uint96(amount);
            else refunds[msg.sender] += amount;
        }
    }

    /// Exact kinds: the value a quorum revealed (at most one can: a quorum is a strict majority of
    /// the epoch), and the bitmask of the entries that revealed it.
    function _majority(Answer[] calldata answers, bytes32[] memory hashes, uint256 quorum_)
        internal
        pure
        returns (uint256 paid, bytes memory result)
    {
        uint256 n = hashes.length;
        bytes32 top; // Boyer-Moore majority vote over the valid reveals
        uint256 votes;
        for (uint256 i; i < n; ++i) {
            bytes32 h = hashes[i];
            if (h == bytes32(0)) continue;
            if (votes == 0) (top, votes) = (h, 1);
            else if (h == top) ++votes;
            else --votes;
        }
        uint256 count;
        uint256 first = n;
        for (uint256 i; i < n; ++i) {
            if (top == bytes32(0) || hashes[i] != top) continue;
            paid |= 1 << i;
            ++count;
            if (first == n) first = i;
        }
        if (count < quorum_) revert QuorumNotMet(count, quorum_);
        result = answers[first].value;
    }

    /// The model families (first 4 bytes of the model id) of the agreeing entries must number at
    /// least `min`. A family is what a node signs it ran: the chain cannot check it, the trail can.
    function _checkFamilies(Answer[] calldata answers, uint256 paid, uint256 min) internal pure {
        uint256 count;
        for (uint256 i; i < answers.length; ++i) {
            if (paid & (1 << i) == 0) continue;
            bytes4 family = bytes4(answers[i].modelId);
            uint256 j;
            while (j < i && (paid & (1 << j) == 0 || bytes4(answers[j].modelId) != family)) ++j;
            if (j == i) ++count; // the first agreeing entry of its family
        }
        if (count < min) revert TooFewFamilies(count, min);
    }

    /// Numeric kinds: the lower median of the r valid reveals, and the bitmask of those in the
    /// honest band [x_f, x_(r-1-f)] (f liars cannot push either bound outside the honest values).
    /// Signed values are compared with their sign bit flipped (int256 order onto uint256 order).
    function _band(Answer[] calldata answers, bytes32[] memory hashes, bool signed, uint256 quorum_, uint256 f_)
        internal
        pure
        returns (uint256 paid, bytes memory result)
    {
        uint256 flip = signed ? 1 << 255 : 0;
        (uint256[] memory xs, uint256 m) = _sorted(answers, hashes, flip);
        if (m < quorum_) revert QuorumNotMet(m, quorum_);
        uint256 lo = xs[f_];
        uint256 hi = xs[m - 1 - f_];
        for (uint256 i; i < hashes.length; ++i) {
            if (hashes[i] == bytes32(0)) continue;
            uint256 x = uint256(bytes32(answers[i].value)) ^ flip;
            if (x >= lo && x <= hi) paid |= 1 << i;
        }
        result = abi.encode(xs[(m - 1) / 2] ^ flip);
    }

    /// The valid reveals (sign bit flipped by `flip`), sorted ascending, and their count.
    function _sorted(Answer[] calldata answers, bytes32[] memory hashes, uint256 flip)
        internal
        pure
        returns (uint256[] memory xs, uint256 m)
    {
        xs = new uint256[](hashes.length);
        for (uint256 i; i < hashes.length; ++i) {
            if (hashes[i] == bytes32(0)) continue;
            uint256 x = uint256(bytes32(answers[i].value)) ^ flip;
            uint256 j = m++;
            while (j > 0 && xs[j - 1] > x) {
                xs[j] = xs[j - 1];
                --j;
            }
            xs[j] = x;
        }
    }

    /// Submit at least a quorum of signed verdicts that the request cannot be answered: it settles
    /// at once; the transmitter is reimbursed its gas (capped) and the rest is refunded.
    function settleUnanswerable(uint256 requestId, Verdict[] calldata verdicts) external {
        Round memory c;
        c.gasStart = gasleft();
        Request storage r = _requests[requestId];
        _open(c, r, requestId, verdicts.length);
        uint256 n = verdicts.length;
        address[] memory signers = new address[](n);
        uint8[] memory reasons = new uint8[](n);
        uint256[6] memory votes;
        uint256 counted;
        address prev;
        for (uint256 i; i < n; ++i) {
            uint8 reason = verdicts[i].reason;
            if (reason == 0 || reason > uint8(type(Reason).max)) revert BadReason(i);
            bytes32 structHash = keccak256(abi.encode(UNANSWERABLE_TYPEHASH, c.commitment, reason, verdicts[i].modelId));
            address signer = _recover(_digest(c.domain, structHash), verdicts[i].signature, i);
            if (!_registered(_node[signer], c.epoch)) revert UnknownSigner(signer);
            if (signer <= prev) {
                if (signer == prev) revert DuplicateSigner(signer);
                revert SignersNotSorted(i);
            }
            prev = signer;
            signers[i] = signer;
            reasons[i] = reason;
            if (_node[signer].bond != Bond.Bonded) continue; // as in fulfill: does not count
            votes[reason]++;
            ++counted;
        }
        if (counted < r.quorum) revert QuorumNotMet(counted, r.quorum);
        uint8 top = 1;
        for (uint8 k = 2; k < 6; ++k) {
            if (votes[k] > votes[top]) top = k;
        }
        r.status = Status.Unanswerable;
        r.commitment = bytes32(0);
        bool ok = _callback(r.consumer, r.callbackGasLimit, abi.encodeCall(IAgentOracleConsumer.onOracleUnanswered, (requestId, top)));

        uint256 fee = r.fee;
        uint256 gas = c.gasStart - gasleft() + TX_GAS + _calldataGas() + FULFIL_TAIL;
        uint256 reimbursement = _reimburse(r, gas, n);
        if (fee > reimbursement) refunds[r.consumer] += fee - reimbursement;
        emit Unanswered(requestId, reasons, signers, fee - reimbursement, reimbursement, ok);
    }

    /// The checks shared by both settlements; fills the round's context.
    function _open(Round memory c, Request storage r, uint256 requestId, uint256 count) internal view {
        if (r.status != Status.Pending) revert NotPending(requestId);
        if (block.timestamp > r.deadline) revert DeadlinePassed(requestId);
        if (count < r.quorum) revert QuorumNotMet(count, r.quorum);
        c.requestId = requestId;
        c.domain = domainSeparator();
        c.commitment = r.commitment;
        c.epoch = r.epoch;
    }

    /// One entry: right model, a seal signed by a staked node of the request's epoch (counted as
    /// answered, in the slot its registration warmed); records the hash of a reveal that opens
    /// the seal and has the kind's shape.
    function _checkEntry(Round memory c, Answer calldata a, uint256 i, bytes32[] memory hashes)
        internal
        returns (address signer)
    {
        if (c.pinned != bytes32(0) && a.modelId != c.pinned) revert WrongModel(i, a.modelId);
        bytes32 structHash = keccak256(abi.encode(COMMIT_TYPEHASH, c.commitment, a.seal, a.modelId));
        signer = _recover(_digest(c.domain, structHash), a.signature, i);
        NodeSlot storage s = _node[signer];
        if (!_registered(s, c.epoch)) revert UnknownSigner(signer);
        // unbonding, withdrawn or slashed since it sealed: it does not count (nor revert the report)
        if (s.bond != Bond.Bonded) return signer;
        s.answered += 1;
        if (a.value.length == 0 || !_shapeOk(c.kind, c.labels, a.value)) return signer;
        bytes32 h = keccak256(a.value);
        if (keccak256(abi.encode(h, a.salt, signer, c.commitment)) == a.seal) hashes[i] = h;
    }

    /// Gas the transaction paid for its calldata (4 per zero byte, 16 per other byte).
    function _calldataGas() internal pure returns (uint256) {
        uint256 nonzero;
        assembly {
            let ones := 0x0101010101010101010101010101010101010101010101010101010101010101
            let len := calldatasize()
            for { let i := 0 } lt(i, len) { i := add(i, 32) } {
                let x := calldataload(i) // zero-padded past the end
                x := or(x, shr(4, x))
                x := or(x, shr(2, x))
                x := or(x, shr(1, x))
                nonzero := add(nonzero, shr(248, mul(and(x, ones), ones)))
            }
        }
        return 16 * nonzero + 4 * (msg.data.length - nonzero);
    }

    function _shapeOk(Kind kind, uint16 labels, bytes calldata value) internal pure returns (bool) {
        if (kind == Kind.Text) return _isText(value);
        if (value.length != 32) return false;
        uint256 x = uint256(bytes32(value));
        return !((kind == Kind.Bool && x > 1) || (kind == Kind.Choice && x >= labels));
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

    // ------------------------------------------------------------------ stake

    function stake() external payable {
        NodeSlot storage s = _node[msg.sender];
        if (s.bond != Bond.None) revert AlreadyStaked(msg.sender);
        if (msg.value != stakeAmount) revert WrongStake(msg.value, stakeAmount);
        s.bond = Bond.Bonded;
        emit Staked(msg.sender, msg.value);
    }

    function unbond() external {
        NodeSlot storage s = _node[msg.sender];
        if (s.bond != Bond.Bonded) revert NotBonded(msg.sender);
        s.bond = Bond.Unbonding;
        uint64 at = uint64(block.timestamp) + unbondingDelay;
        _unbondAt[msg.sender] = at;
        emit Unbonding(msg.sender, at);
    }

    function withdrawStake(address to) external {
        NodeSlot storage s = _node[msg.sender];
        if (s.bond != Bond.Unbonding) revert NotUnbonding(msg.sender);
        uint64 at = _unbondAt[msg.sender];
        if (block.timestamp < at) revert UnbondingNotDue(at);
        if (to == address(0)) revert TransferFailed();
        s.bond = Bond.None;
        _unbondAt[msg.sender] = 0;
        emit StakeWithdrawn(msg.sender, to, stakeAmount);
        (bool ok,) = to.call{value: stakeAmount}("");
        if (!ok) revert TransferFailed();
    }

    /// Evidence is two seals of one node under one request commitment that differ in seal or
    /// model: an honest node signs exactly one. The request need not be pending (nor exist on this
    /// chain's storage any more: the commitment is in the signed data). Slashed once: the bond
    /// becomes Slashed, which no later evidence can take again.
    function slash(SignedCommit calldata a, SignedCommit calldata b) external {
        if (a.commitment != b.commitment || (a.seal == b.seal && a.modelId == b.modelId)) revert NotEquivocation();
        bytes32 domain = domainSeparator();
        address node = _recover(
            _digest(domain, keccak256(abi.encode(COMMIT_TYPEHASH, a.commitment, a.seal, a.modelId))), a.signature, 0
        );
        address other = _recover(
            _digest(domain, keccak256(abi.encode(COMMIT_TYPEHASH, b.commitment, b.seal, b.modelId))), b.signature, 1
        );
        if (node != other) revert NotEquivocation();
        NodeSlot storage s = _node[node];
        if (s.bond != Bond.Bonded && s.bond != Bond.Unbonding) revert NotBonded(node);
        s.bond = Bond.Slashed;
        _unbondAt[node] = 0;
        uint256 reward = stakeAmount / 2;
        if (reward != 0) refunds[msg.sender] += reward;
        if (stakeAmount > reward) refunds[owner] += stakeAmount - reward;
        emit Slashed(node, msg.sender, a.commitment, reward);
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
        _checkParams(params_, unbondingDelay);
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

    function _checkParams(Params memory p, uint64 unbonding) internal pure {
        if (
            p.maxTimeout > unbonding || p.fulfilGas > MAX_CALLBACK_GAS || p.gasPerNode > MAX_CALLBACK_GAS
                || p.delay > MAX_DELAY || p.minTimeout == 0 || p.minTimeout > p.defaultTimeout || p.defaultTimeout > p.maxTimeout
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
}
