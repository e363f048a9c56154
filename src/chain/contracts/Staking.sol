// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Checkpoints} from "@openzeppelin/contracts/utils/structs/Checkpoints.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

/// @title Staking
/// @notice A contributor stakes DAT per job to take part in it. The counted stake is kept as a
/// history (Checkpoints keyed by block number) so the orchestrator can check that a stake met the
/// job's minimum at the block where a round opened, whatever happened after.
///
/// Unstaking has two steps. `requestUnstake` stops the whole stake counting at once (rounds opened
/// later do not see it) and moves it to a pending amount; `withdraw` pays it out once the job's
/// cooldown has passed. The rule: the operator sets each job's cooldown at least as long as a
/// round can last (its deadline) plus the time it takes to publish it, so every round the address
/// could have taken part in — all were opened before the request, since the stake stopped counting
/// then — is published, and its slashes applied, before the tokens can leave. Pending stake can
/// still be slashed.
///
/// Slashing is done only by the RewardDistributor, inside the one transaction that publishes a
/// round: the round's published evidence lists the cheaters. An address loses its whole stake in the
/// job (counted and pending). The slashed tokens go to the job's reward pool in the distributor, so
/// they pay honest contributors of later rounds. Each (job, round, address) is slashed at most once:
/// a round is published once, and the list must be strictly ascending (no duplicates).
contract Staking is Ownable {
    using SafeERC20 for IERC20;
    using Checkpoints for Checkpoints.Trace208;

    struct Job {
        uint128 minStake;
        uint64 cooldown;
        bool exists;
    }

    struct Pending {
        uint128 amount;
        uint64 unlockAt;
    }

    IERC20 public immutable token;
    /// @notice The RewardDistributor: the only caller of `slash`, and where slashed tokens go.
    address public immutable distributor;
    /// @notice Cooldown (seconds) given to jobs whose operator did not set one.
    uint64 public defaultCooldown;

    mapping(uint256 jobId => Job) private _jobs;
    mapping(uint256 jobId => mapping(address account => Checkpoints.Trace208)) private _stakes;
    mapping(uint256 jobId => mapping(address account => Pending)) private _pending;

    event JobMinStakeSet(uint256 indexed jobId, uint256 minStake);
    event JobCooldownSet(uint256 indexed jobId, uint256 cooldown);
    event DefaultCooldownSet(uint256 cooldown);
    event Staked(uint256 indexed jobId, address indexed account, uint256 amount, uint256 stake);
    event UnstakeRequested(uint256 indexed jobId, address indexed account, uint256 amount, uint256 unlockAt);
    event Withdrawn(uint256 indexed jobId, address indexed account, uint256 amount);
    event Slashed(uint256 indexed jobId, uint256 indexed round, address indexed account, uint256 amount);

    error ZeroAmount();
    error UnknownJob(uint256 jobId);
    error NothingStaked(uint256 jobId, address account);
    error NothingPending(uint256 jobId, address account);
    error CooldownNotOver(uint256 jobId, address account, uint256 unlockAt, uint256 now);
    error NotDistributor(address caller);
    error UnsortedSlashes(uint256 index);
    error FutureLookup(uint256 blockNumber, uint256 currentBlock);
    error CooldownTooLong(uint256 cooldown);

    constructor(IERC20 token_, address distributor_, address initialOwner, uint64 defaultCooldown_)
        Ownable(initialOwner)
    {
        token = token_;
        distributor = distributor_;
        defaultCooldown = defaultCooldown_;
        emit DefaultCooldownSet(defaultCooldown_);
    }

    /// @notice Set a job's minimum stake (0 allowed); the first call opens the job for staking.
    function setJobMinStake(uint256 jobId, uint256 amount) external onlyOwner {
        Job storage job = _jobs[jobId];
        if (!job.exists) {
            job.exists = true;
            job.cooldown = defaultCooldown;
        }
        job.minStake = SafeCast.toUint128(amount);
        emit JobMinStakeSet(jobId, amount);
    }

    /// @notice Set a job's unstaking cooldown in seconds (see the contract's rule).
    function setJobCooldown(uint256 jobId, uint256 cooldown) external onlyOwner {
        Job storage job = _jobs[jobId];
        if (!job.exists) revert UnknownJob(jobId);
        if (cooldown > 365 days) revert CooldownTooLong(cooldown);
        job.cooldown = uint64(cooldown);
        emit JobCooldownSet(jobId, cooldown);
    }

    /// @notice Cooldown for jobs opened from now on.
    function setDefaultCooldown(uint256 cooldown) external onlyOwner {
        if (cooldown > 365 days) revert CooldownTooLong(cooldown);
        defaultCooldown = uint64(cooldown);
        emit DefaultCooldownSet(cooldown);
    }

    /// @notice Add `amount` (pulled from the caller, which must have approved it) to the caller's stake in a job.
    function stake(uint256 jobId, uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        if (!_jobs[jobId].exists) revert UnknownJob(jobId);
        token.safeTransferFrom(msg.sender, address(this), amount);
        Checkpoints.Trace208 storage history = _stakes[jobId][msg.sender];
        uint256 next = history.latest() + amount;
        history.push(uint48(block.number), SafeCast.toUint208(next));
        emit Staked(jobId, msg.sender, amount, next);
    }

    /// @notice Stop the caller's whole stake in a job counting now; it can be withdrawn after the cooldown.
    function requestUnstake(uint256 jobId) external {
        Checkpoints.Trace208 storage history = _stakes[jobId][msg.sender];
        uint256 amount = history.latest();
        if (amount == 0) revert NothingStaked(jobId, msg.sender);
        history.push(uint48(block.number), 0);
        Pending storage p = _pending[jobId][msg.sender];
        // A second request restarts the cooldown for everything pending: the newly uncounted stake
        // may have been in the round that is running now.
        uint64 unlockAt = uint64(block.timestamp) + _jobs[jobId].cooldown;
        p.amount += uint128(amount);
        p.unlockAt = unlockAt;
        emit UnstakeRequested(jobId, msg.sender, amount, unlockAt);
    }

    /// @notice Pay out the caller's pending stake of a job once its cooldown is over.
    function withdraw(uint256 jobId) external {
        Pending memory p = _pending[jobId][msg.sender];
        if (p.amount == 0) revert NothingPending(jobId, msg.sender);
        if (block.timestamp < p.unlockAt) revert CooldownNotOver(jobId, msg.sender, p.unlockAt, block.timestamp);
        delete _pending[jobId][msg.sender];
        token.safeTransfer(msg.sender, p.amount);
        emit Withdrawn(jobId, msg.sender, p.amount);
    }

    /// @notice Slash the whole stake (counted and pending) of each listed address for a published round;
    /// the tokens go to the distributor's pool of the job. Distributor only; `accounts` strictly ascending.
    /// @return total The tokens slashed (already transferred to the distributor).
    function slash(uint256 jobId, uint256 round, address[] calldata accounts) external returns (uint256 total) {
        if (msg.sender != distributor) revert NotDistributor(msg.sender);
        address previous;
        for (uint256 i = 0; i < accounts.length; ++i) {
            address account = accounts[i];
            if (account <= previous) revert UnsortedSlashes(i);
            previous = account;
            Checkpoints.Trace208 storage history = _stakes[jobId][account];
            uint256 counted = history.latest();
            if (counted != 0) history.push(uint48(block.number), 0);
            Pending storage p = _pending[jobId][account];
            uint256 pending = p.amount;
            if (pending != 0) p.amount = 0;
            uint256 amount = counted + pending;
            total += amount;
            emit Slashed(jobId, round, account, amount);
        }
        if (total != 0) token.safeTransfer(distributor, total);
    }

    /// @notice The counted stake of `account` in a job now.
    function stakeOf(uint256 jobId, address account) external view returns (uint256) {
        return _stakes[jobId][account].latest();
    }

    /// @notice The counted stake of `account` in a job at the end of block `blockNumber` (not a future block).
    function stakeAt(uint256 jobId, address account, uint256 blockNumber) public view returns (uint256) {
        if (blockNumber > block.number) revert FutureLookup(blockNumber, block.number);
        return _stakes[jobId][account].upperLookupRecent(uint48(blockNumber));
    }

    /// @notice `stakeAt` for many accounts in one call.
    function stakesAt(uint256 jobId, address[] calldata accounts, uint256 blockNumber)
        external
        view
        returns (uint256[] memory stakes)
    {
        stakes = new uint256[](accounts.length);
        for (uint256 i = 0; i < accounts.length; ++i) {
            stakes[i] = stakeAt(jobId, accounts[i], blockNumber);
        }
    }

    /// @notice A job's staking rules; `exists` is false until the operator set its minimum.
    function getJob(uint256 jobId) external view returns (uint256 minStake, uint256 cooldown, bool exists) {
        Job memory job = _jobs[jobId];
        return (job.minStake, job.cooldown, job.exists);
    }

    /// @notice Stake waiting for its cooldown, and when it can be withdrawn (unix seconds).
    function pendingOf(uint256 jobId, address account) external view returns (uint256 amount, uint256 unlockAt) {
        Pending memory p = _pending[jobId][account];
        return (p.amount, p.unlockAt);
    }
}
