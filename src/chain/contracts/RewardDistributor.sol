// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

/// @notice The part of Staking the distributor calls when a round slashes cheaters.
interface IStakingSlasher {
    function slash(uint256 jobId, uint256 round, address[] calldata accounts) external returns (uint256);
}

/// @title RewardDistributor
/// @notice Per-job reward pools. The publisher commits one round per transaction as a Merkle root
/// over (index, account, amount) leaves (the OpenZeppelin merkle-tree "standard" double-hashed
/// leaf, encoding ["uint256","address","uint256"]), so publishing costs the same whatever the
/// number of contributors; each contributor pulls its amount with a proof.
/// @dev Claims are recorded in a bitmap per (job, round) indexed by the leaf's index, which the
/// leaf commits to (so an index cannot be replayed with another proof): 256 claims share one
/// storage word, and only the first claimer of a word pays for a fresh slot.
/// The two CIDs are emitted in `RoundPublished` and committed in storage as one hash
/// (`cidsHash = keccak256(abi.encode(globalModelCid, treeCid))`) so anyone can check CIDs against
/// the chain without trusting an event index, at the price of one storage slot.
/// A round's publication may slash the stakes of the addresses its evidence shows cheated, in the
/// same transaction (see Staking): the slashed tokens come back into the job's pool.
contract RewardDistributor is Ownable {
    using SafeERC20 for IERC20;

    struct Round {
        bytes32 rewardRoot;
        bytes32 cidsHash;
        uint128 total;
        uint64 publishedBlock;
    }

    struct Claim {
        uint256 jobId;
        uint256 round;
        uint256 index;
        uint256 amount;
        bytes32[] proof;
    }

    IERC20 public immutable token;
    /// @notice The Staking contract whose stakes a publication may slash (address(0): none).
    IStakingSlasher public immutable staking;
    address public publisher;

    /// @notice Tokens funded for a job and not yet committed to a published round.
    mapping(uint256 jobId => uint256) public pool;
    mapping(uint256 jobId => mapping(uint256 round => Round)) private _rounds;
    mapping(uint256 jobId => mapping(uint256 round => mapping(uint256 word => uint256))) private _claimed;

    event PublisherChanged(address indexed previous, address indexed current);
    event PoolFunded(uint256 indexed jobId, address indexed from, uint256 amount);
    event RoundPublished(
        uint256 indexed jobId,
        uint256 indexed round,
        bytes32 rewardRoot,
        uint256 total,
        string globalModelCid,
        string treeCid
    );
    event StakesSlashed(uint256 indexed jobId, uint256 indexed round, uint256 count, uint256 amount);
    event Claimed(uint256 indexed jobId, uint256 indexed round, address indexed account, uint256 amount);

    error NotPublisher(address caller);
    error RoundAlreadyPublished(uint256 jobId, uint256 round);
    error RoundNotPublished(uint256 jobId, uint256 round);
    error InsufficientPool(uint256 jobId, uint256 available, uint256 required);
    error EmptyRoot();
    error TotalTooLarge(uint256 total);
    error ZeroAmount();
    error AlreadyClaimed(uint256 jobId, uint256 round, uint256 index);
    error InvalidProof(uint256 jobId, uint256 round, address account, uint256 amount);
    error NoClaims();
    error NoStaking();

    modifier onlyPublisher() {
        if (msg.sender != publisher && msg.sender != owner()) revert NotPublisher(msg.sender);
        _;
    }

    constructor(IERC20 token_, IStakingSlasher staking_, address initialOwner) Ownable(initialOwner) {
        token = token_;
        staking = staking_;
        publisher = initialOwner;
        emit PublisherChanged(address(0), initialOwner);
    }

    /// @notice Let `newPublisher` publish rounds (the owner always can).
    function setPublisher(address newPublisher) external onlyOwner {
        emit PublisherChanged(publisher, newPublisher);
        publisher = newPublisher;
    }

    /// @notice Add `amount` tokens (pulled from the caller, which must have approved them) to a job's pool.
    function fund(uint256 jobId, uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        token.safeTransferFrom(msg.sender, address(this), amount);
        pool[jobId] += amount;
        emit PoolFunded(jobId, msg.sender, amount);
    }

    /// @notice Publish a round's result and reward root, reserving `total` from the job's pool, and
    /// slash the stakes of `slashed` (strictly ascending addresses; empty for none) into that pool.
    function publishRound(
        uint256 jobId,
        uint256 round,
        string calldata globalModelCid,
        bytes32 rewardRoot,
        uint256 total,
        string calldata treeCid,
        address[] calldata slashed
    ) external onlyPublisher {
        Round storage r = _rounds[jobId][round];
        if (r.publishedBlock != 0) revert RoundAlreadyPublished(jobId, round);
        // A round where nobody earned anything is still published (its model counts); it has no tree.
        if (rewardRoot == bytes32(0) && total != 0) revert EmptyRoot();
        if (total > type(uint128).max) revert TotalTooLarge(total);
        uint256 available = pool[jobId];
        if (available < total) revert InsufficientPool(jobId, available, total);
        unchecked {
            pool[jobId] = available - total;
        }
        r.rewardRoot = rewardRoot;
        r.cidsHash = keccak256(abi.encode(globalModelCid, treeCid));
        r.total = uint128(total);
        r.publishedBlock = uint64(block.number);
        emit RoundPublished(jobId, round, rewardRoot, total, globalModelCid, treeCid);
        if (slashed.length != 0) {
            if (address(staking) == address(0)) revert NoStaking();
            // Reentrancy is not a concern: Staking is immutable, trusted code that only moves DAT.
            uint256 amount = staking.slash(jobId, round, slashed);
            if (amount != 0) pool[jobId] += amount;
            emit StakesSlashed(jobId, round, slashed.length, amount);
        }
    }

    /// @notice Claim the caller's reward for one round.
    function claim(uint256 jobId, uint256 round, uint256 index, uint256 amount, bytes32[] calldata proof) external {
        _verifyAndMark(jobId, round, index, msg.sender, amount, proof);
        token.safeTransfer(msg.sender, amount);
    }

    /// @notice Claim several rounds (of any jobs) in one transaction, with one token transfer.
    function claimMany(Claim[] calldata claims) external {
        if (claims.length == 0) revert NoClaims();
        uint256 sum;
        for (uint256 i = 0; i < claims.length; ++i) {
            Claim calldata c = claims[i];
            _verifyAndMark(c.jobId, c.round, c.index, msg.sender, c.amount, c.proof);
            sum += c.amount;
        }
        token.safeTransfer(msg.sender, sum);
    }

    function getRound(uint256 jobId, uint256 round)
        external
        view
        returns (bytes32 rewardRoot, bytes32 cidsHash, uint256 total, uint256 publishedBlock)
    {
        Round storage r = _rounds[jobId][round];
        return (r.rewardRoot, r.cidsHash, r.total, r.publishedBlock);
    }

    function isPublished(uint256 jobId, uint256 round) external view returns (bool) {
        return _rounds[jobId][round].publishedBlock != 0;
    }

    function isClaimed(uint256 jobId, uint256 round, uint256 index) public view returns (bool) {
        return _claimed[jobId][round][index >> 8] & (uint256(1) << (index & 0xff)) != 0;
    }

    function _verifyAndMark(
        uint256 jobId,
        uint256 round,
        uint256 index,
        address account,
        uint256 amount,
        bytes32[] calldata proof
    ) private {
        // A published round without rewards has no root: there is nothing to claim in it either.
        bytes32 root = _rounds[jobId][round].rewardRoot;
        if (root == bytes32(0)) revert RoundNotPublished(jobId, round);
        if (amount == 0) revert ZeroAmount();
        uint256 word = _claimed[jobId][round][index >> 8];
        uint256 bit = uint256(1) << (index & 0xff);
        if (word & bit != 0) revert AlreadyClaimed(jobId, round, index);
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(index, account, amount))));
        if (!MerkleProof.verifyCalldata(proof, root, leaf)) {
            revert InvalidProof(jobId, round, account, amount);
        }
        _claimed[jobId][round][index >> 8] = word | bit;
        emit Claimed(jobId, round, account, amount);
    }
}
