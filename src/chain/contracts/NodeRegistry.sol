// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title NodeRegistry
/// @notice Contributors announce themselves on-chain; an orchestrator may require it (`--onchain`).
contract NodeRegistry {
    mapping(address node => string metadataCid) private _metadata;
    mapping(address node => bool) private _registered;
    uint256 public registeredCount;

    event NodeRegistered(address indexed node, string metadataCid);
    event NodeUnregistered(address indexed node);

    error EmptyMetadata();
    error NotRegistered(address node);

    /// @notice Register the caller (or update its metadata when already registered).
    function register(string calldata metadataCid) external {
        if (bytes(metadataCid).length == 0) revert EmptyMetadata();
        if (!_registered[msg.sender]) {
            _registered[msg.sender] = true;
            registeredCount += 1;
        }
        _metadata[msg.sender] = metadataCid;
        emit NodeRegistered(msg.sender, metadataCid);
    }

    /// @notice Remove the caller's registration.
    function unregister() external {
        if (!_registered[msg.sender]) revert NotRegistered(msg.sender);
        _registered[msg.sender] = false;
        delete _metadata[msg.sender];
        registeredCount -= 1;
        emit NodeUnregistered(msg.sender);
    }

    function isRegistered(address node) external view returns (bool) {
        return _registered[node];
    }

    function metadataOf(address node) external view returns (string memory) {
        if (!_registered[node]) revert NotRegistered(node);
        return _metadata[node];
    }
}
