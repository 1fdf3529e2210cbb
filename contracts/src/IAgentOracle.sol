// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @notice The AgentOracle's external interface: what consumers, nodes and operators call.
///
/// Fault model (as OCR2): the registry of an epoch has n nodes and tolerates f = (n - 1) / 3
/// Byzantine ones; a result needs quorum = (n + f) / 2 + 1 signatures (2f + 1 when n = 3f + 1)
/// from distinct nodes of the request's epoch, so any two quorums share an honest node and a
/// quorum is always a strict majority. Non-numeric kinds need a quorum of identical answers;
/// numeric kinds take the median of the (at least a quorum of) signed observations, which f
/// liars cannot move outside the honest range.
///
/// Every request is bound: the contract stores its commitment, the EIP-712 hash of
///   Request(uint256 requestId,address consumer,bytes32 promptHash,uint8 kind,bytes32 optionsHash,
///           bytes32 modelId,uint64 deadline,uint96 fee,uint32 callbackGasLimit,uint32 epoch)
/// and nodes sign, under the domain (name "AgentOracle", version "3", chain id, this contract),
///   Commit(bytes32 commitment,bytes32 seal,bytes32 modelId)                a sealed answer, or
///   Unanswerable(bytes32 commitment,uint8 reason,bytes32 modelId)          a verdict that it cannot be answered,
/// where seal = keccak256(abi.encode(keccak256(value), salt, node, commitment)): the answer, a
/// secret 32-byte salt, the node's own address and the request. A quorum of verdicts settles the
/// request at once and refunds the fee (less the transmitter's gas).
///
/// Commit-reveal and what the contract can verify. Nodes exchange signed seals first and reveal
/// (value, salt) only once 2f+1 seals are held; the report given to `fulfill` carries, per node,
/// its signed seal and its reveal. The contract verifies that each seal was signed by a staked
/// node of the request's epoch, that the reveal opens it, and (seals bind the node's address) that
/// no seal is another node's. It can NOT see when a seal was made: a copier that seals a peer's
/// revealed answer before the report is built is excluded by the honest protocol (a transmitter
/// includes only seals it held before any reveal, and nodes reveal only after a quorum of seals),
/// not by the chain. Nor can it pay a node the transmitter left out of the report.
///
/// Economics. A request pays at least `estimateFee(kind, callbackGasLimit, maxGasPrice)`. The
/// transmitter of a settlement is reimbursed its gas, at most the gas the fee priced (fulfil gas +
/// gas per entry of the report + callback gas: padding a report cannot eat the nodes' share), at
/// min(tx.gasprice, maxGasPrice, basefee + 2 gwei) from the fee; the rest is shared equally by every node of the report whose revealed
/// answer is the result (exact kinds) or lies in the honest band [x_f, x_(r-1-f)] of the r
/// sorted revealed observations (numeric kinds). Nodes stake `stakeAmount` to sign at all; a
/// node that signed two different seals for the same request is slashed by anyone showing both
/// signatures (the reporter gets half the stake, the owner the rest); stake leaves after
/// `unbondingDelay`. Only bonded nodes count in a settlement: an entry of a node that has since
/// unbonded, withdrawn or been slashed is kept in the report but neither counts nor is paid (it
/// cannot revert the report), so every seal that settles anything stays slashable for the whole
/// unbonding delay. Counters per node (answered, agreed, slashed) are public (`nodeInfo`).
///
/// Model families. A model id's first 4 bytes name its family (concilium: the first 4 bytes of
/// sha256 of the family's name, e.g. "smollm2", "gemma3"; the rest hashes weights, engine and
/// sampling). A request can ask that the nodes agreeing on its result span at least `minFamilies`
/// families, so that no one model (and no one model's blind spot) decides it alone. The family is
/// what a node signs it ran: the chain cannot check it; replaying the recorded prompt on the named
/// model (the trail) can, and the signature makes a false claim attributable.
///
/// Registry and parameter changes are proposed by the owner and take effect after `params().delay`
/// (anyone applies them once due); ownership moves in two steps. Payments are pulled: node
/// credits and requester refunds accrue and leave with `withdraw(to)`.
interface IAgentOracle {
    /// Answer kinds. Results are ABI-encoded: Bool -> (bool), Choice -> (uint256 index into the
    /// labels given in `options` as abi.encode(string[]), checked < their count), Uint -> (uint256),
    /// Int -> (int256), Text -> (string) normalised (trimmed, lower-case, single spaces), at most
    /// MAX_TEXT_BYTES bytes, strictly ABI-encoded.
    enum Kind {
        Bool,
        Choice,
        Uint,
        Int,
        Text
    }

    enum Status {
        None,
        Pending,
        Fulfilled,
        Unanswerable,
        Cancelled
    }

    /// Why nodes could not answer (the `reason` of an Unanswerable verdict; 0 is not a reason).
    enum Reason {
        None,
        PromptRejected, // the model refused, or the prompt is empty or unreadable (not UTF-8)
        PromptTooLong, // beyond the model's context window
        ModelError, // the model server failed on this prompt
        BadOptions, // the options cannot be decoded for this kind
        ModelNotServed // the request pins a model this node does not serve
    }

    /// A stored request: two packed slots, the commitment and (only when pinned) the model.
    struct Request {
        address consumer; // slot 0
        uint64 deadline;
        uint32 callbackGasLimit;
        uint96 fee; // slot 1
        uint32 epoch;
        Kind kind;
        Status status;
        uint8 quorum; // of the request's epoch
        uint8 f; // of the request's epoch: numeric answers are paid within [x_f, x_(r-1-f)]
        uint16 labels; // Choice: number of labels; the answer index must be below it
        bool pinned; // modelId below is set
        uint8 minFamilies; // distinct model families the agreeing nodes must span (0 or 1: any)
        uint64 maxGasPrice; // the highest gas price (wei) the transmitter is reimbursed at
        bytes32 commitment; // slot 2 (cleared once settled)
        bytes32 modelId; // slot 3, written only when pinned
    }

    /// One node's entry in a report: its signed seal (65-byte signature (r, s, v) over the EIP-712
    /// Commit) and its reveal. An empty `value` means not revealed: the node is counted as having
    /// answered but is not paid; so is one whose reveal does not open its seal or is malformed.
    struct Answer {
        bytes32 seal;
        bytes32 modelId;
        bytes signature;
        bytes value;
        bytes32 salt;
    }

    /// A signed seal on its own: the evidence `slash` takes.
    struct SignedCommit {
        bytes32 commitment;
        bytes32 seal;
        bytes32 modelId;
        bytes signature;
    }

    /// A node's stake: bonded nodes sign; unbonding ones no longer count in settlements but can be
    /// slashed until they withdraw; a slashed address can never stake again.
    enum Bond {
        None,
        Bonded,
        Unbonding,
        Slashed
    }

    /// What anyone can read about a node: its reputation and its money.
    struct NodeInfo {
        Bond bond;
        uint64 unbondAt; // when an unbonding stake can leave
        uint96 credit; // withdrawable earnings
        uint32 answered; // reports it was in with a valid seal
        uint32 agreed; // of those, paid (matched the result or lay in the honest band)
        uint32 slashed; // 0 or 1
        uint32 since; // first epoch it signs for (0: never registered)
        uint32 until; // first epoch it no longer signs for
    }

    /// One node's signed verdict that the request cannot be answered.
    struct Verdict {
        uint8 reason; // a Reason, checked (an out-of-range enum would not decode to a named error)
        bytes32 modelId;
        bytes signature;
    }

    /// Owner-set parameters; changes go through the timelock. Timeouts in seconds.
    struct Params {
        uint32 delay; // timelock for registry and parameter changes
        uint32 minTimeout;
        uint32 maxTimeout;
        uint32 defaultTimeout;
        uint32 maxPromptBytes;
        uint32 maxOptionsBytes;
        uint32 maxCallbackGas;
        uint32 fulfilGas; // fixed gas of a fulfil, beyond the callback and the per-node part
        uint32 gasPerNode; // gas per node of the registry in a fulfil
        uint96 premium; // wei per node of the registry, on top of the gas
    }

    // ------------------------------------------------------------------ events

    /// Everything a node needs: the stored request (commitment, epoch, deadline, fee, ...) and
    /// the prompt and options it hashes.
    event Requested(uint256 indexed requestId, address indexed consumer, Request request, string prompt, bytes options);
    /// `signers`: every node of the report; bit i of `paid` says whether signers[i] earned `share`.
    event Fulfilled(
        uint256 indexed requestId,
        bytes result,
        address[] signers,
        bytes32[] modelIds,
        uint256 paid,
        uint256 share,
        uint256 reimbursement,
        bool callbackOk
    );
    event Unanswered(
        uint256 indexed requestId, uint8[] reasons, address[] signers, uint256 refund, uint256 reimbursement, bool callbackOk
    );
    event Cancelled(uint256 indexed requestId, uint256 refund);
    event Withdrawn(address indexed from, address indexed to, uint256 amount);
    event Staked(address indexed node, uint256 amount);
    event Unbonding(address indexed node, uint64 unbondAt);
    event StakeWithdrawn(address indexed node, address indexed to, uint256 amount);
    event Slashed(address indexed node, address indexed reporter, bytes32 commitment, uint256 reward);

    event NodesProposed(address[] nodes, uint64 eta);
    event ParamsProposed(Params params, uint64 eta);
    event ProposalCancelled(bool registry);
    event RegistryChanged(uint32 indexed epoch, address[] nodes, uint8 f, uint8 quorum);
    event ParamsChanged(Params params);
    event OwnershipTransferStarted(address indexed previousOwner, address indexed newOwner);
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);

    // ------------------------------------------------------------------ errors

    // requests
    error EmptyPrompt();
    error PromptTooLarge(uint256 size, uint256 max);
    error OptionsTooLarge(uint256 size, uint256 max);
    error OptionsNotAllowed(Kind kind);
    error BadLabels();
    error TimeoutOutOfRange(uint256 timeout, uint256 min, uint256 max);
    error CallbackGasTooHigh(uint256 limit, uint256 max);
    error FeeTooLarge(uint256 fee);
    error FeeBelowEstimate(uint256 fee, uint256 estimate);
    error FamiliesOutOfRange(uint256 minFamilies, uint256 max);
    // settlement
    error NotPending(uint256 requestId);
    error DeadlinePassed(uint256 requestId);
    error DeadlineNotReached(uint256 requestId, uint64 deadline);
    error QuorumNotMet(uint256 signers, uint256 quorum);
    error BadSignature(uint256 index);
    error UnknownSigner(address signer);
    error DuplicateSigner(address signer);
    error SignersNotSorted(uint256 index);
    error WrongModel(uint256 index, bytes32 modelId);
    error AnswersDisagree(uint256 index);
    error BadReason(uint256 index);
    error NotEnoughGasForCallback();
    error NoAgreement();
    error TooFewFamilies(uint256 families, uint256 minFamilies);
    // stake
    error WrongStake(uint256 sent, uint256 required);
    error AlreadyStaked(address node);
    error NotBonded(address node);
    error NotUnbonding(address node);
    error UnbondingNotDue(uint64 unbondAt);
    error NotEquivocation();
    // payments
    error NothingToWithdraw();
    error TransferFailed();
    // administration
    error NotOwner();
    error NotPendingOwner();
    error BadRegistry(uint256 nodes);
    error DuplicateNode(address node);
    error BadParams();
    error NoProposal();
    error ProposalNotDue(uint64 eta);

    // ------------------------------------------------------------------ requests

    /// Ask with the default timeout and any model.
    function request(string calldata prompt, Kind kind, bytes calldata options, uint32 callbackGasLimit)
        external
        payable
        returns (uint256 requestId);

    /// Ask with a model pin (zero: any model), a timeout (zero: the default), the highest gas
    /// price the transmitter is reimbursed at (zero: this transaction's gas price) and the number
    /// of model families the nodes that agree on the result must span (0 or 1: any; at most the
    /// registry's size, and 1 with a pin). A node's family is the first 4 bytes of the model id it
    /// signs; a report whose agreeing nodes span fewer reverts `TooFewFamilies`.
    /// msg.value must be at least estimateFee(kind, callbackGasLimit, maxGasPrice).
    function requestPinned(
        string calldata prompt,
        Kind kind,
        bytes calldata options,
        uint32 callbackGasLimit,
        bytes32 modelId,
        uint64 timeout,
        uint64 maxGasPrice,
        uint8 minFamilies
    ) external payable returns (uint256 requestId);

    /// The least fee a request pays: (fulfil gas + callback gas) * gasPrice + premium * nodes.
    function estimateFee(Kind kind, uint32 callbackGasLimit, uint256 gasPrice) external view returns (uint256);

    /// Anyone, after the deadline of a pending request: the fee is credited back to its requester.
    function cancel(uint256 requestId) external;

    /// Submit the report: entries of distinct staked nodes of the request's epoch in ascending
    /// signer order, of which at least a quorum revealed the same answer (exact kinds) or revealed
    /// at all (numeric kinds: the lower median of the reveals is the result).
    function fulfill(uint256 requestId, Answer[] calldata answers) external;

    function settleUnanswerable(uint256 requestId, Verdict[] calldata verdicts) external;

    /// Pays the caller's node credit and refunds to `to`.
    function withdraw(address to) external;

    // ------------------------------------------------------------------ stake

    /// Stake exactly `stakeAmount` (a node signs nothing before it has).
    function stake() external payable;
    /// Start the unbonding delay; the node's seals and verdicts stop counting at once (finish
    /// pending rounds first) and it can be slashed until it withdraws.
    function unbond() external;
    /// After the delay: the stake leaves to `to` and the node no longer signs.
    function withdrawStake(address to) external;
    /// Anyone: two signed seals of one node for one request that differ. The node's stake is
    /// taken (half to the caller, half to the owner's refunds), once.
    function slash(SignedCommit calldata a, SignedCommit calldata b) external;

    // ------------------------------------------------------------------ views

    function requests(uint256 requestId) external view returns (Request memory);
    function statusOf(uint256 requestId) external view returns (Status);
    function credits(address account) external view returns (uint256);
    function nodeInfo(address node) external view returns (NodeInfo memory);
    function stakeAmount() external view returns (uint256);
    function unbondingDelay() external view returns (uint64);
    function nodes() external view returns (address[] memory);
    function isNode(address node) external view returns (bool);
    function isSignerOf(address node, uint32 epoch) external view returns (bool);
    function epoch() external view returns (uint32);
    function f() external view returns (uint8);
    function quorum() external view returns (uint8);
    function params() external view returns (Params memory);
    function pendingNodes() external view returns (address[] memory nodes, uint64 eta);
    function pendingParams() external view returns (Params memory params, uint64 eta);
    function owner() external view returns (address);
    function pendingOwner() external view returns (address);
    function commitDigest(bytes32 commitment, bytes32 seal, bytes32 modelId) external view returns (bytes32);
    function verdictDigest(bytes32 commitment, uint8 reason, bytes32 modelId) external view returns (bytes32);
    function domainSeparator() external view returns (bytes32);

    // ------------------------------------------------------------------ administration

    /// Replace the registry with `nodes` (f and the quorum derived) after the delay.
    function proposeNodes(address[] calldata nodes) external;
    function proposeParams(Params calldata params) external;
    function applyNodes() external;
    function applyParams() external;
    function cancelProposal(bool registry) external;
    function transferOwnership(address newOwner) external;
    function acceptOwnership() external;
}

/// @notice Implemented by consumers; called by the oracle with exactly the request's callback gas.
interface IAgentOracleConsumer {
    function onOracleResult(uint256 requestId, bytes calldata result) external;

    /// A quorum of nodes signed that the request cannot be answered; the fee (less the
    /// transmitter's gas) is credited back to the requester (`withdraw`).
    function onOracleUnanswered(uint256 requestId, uint8 reason) external;
}
