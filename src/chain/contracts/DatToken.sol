// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title DatToken
/// @notice The ERC-20 that pays contributors and gates inference. Only the owner mints.
contract DatToken is ERC20, Ownable {
    constructor(address initialOwner) ERC20("dat", "DAT") Ownable(initialOwner) {}

    /// @notice Mint `amount` base units to `to`. Owner only.
    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }
}
