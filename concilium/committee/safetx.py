"""SafeTx: the call a committee's Safe makes, and the EIP-712 digest its owners sign.

The digest is Safe 1.3.0/1.4.1's: domain `EIP712Domain(uint256 chainId,address verifyingContract)`,
so a signature is bound to one chain, one Safe and one nonce. Pure: no chain access.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import IntEnum

from eth_abi import encode
from eth_utils import keccak, to_checksum_address

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"

DOMAIN_TYPEHASH = keccak(text="EIP712Domain(uint256 chainId,address verifyingContract)")
SAFE_TX_TYPEHASH = keccak(
    text="SafeTx(address to,uint256 value,bytes data,uint8 operation,uint256 safeTxGas,uint256 baseGas,"
    "uint256 gasPrice,address gasToken,address refundReceiver,uint256 nonce)"
)


class Operation(IntEnum):
    CALL = 0
    DELEGATECALL = 1


@dataclass(frozen=True)
class SafeTx:
    to: str
    value: int = 0
    data: bytes = b""
    operation: Operation = Operation.CALL
    safe_tx_gas: int = 0
    base_gas: int = 0
    gas_price: int = 0
    gas_token: str = ZERO_ADDRESS
    refund_receiver: str = ZERO_ADDRESS
    nonce: int = 0

    def __post_init__(self):
        object.__setattr__(self, "to", to_checksum_address(self.to))
        object.__setattr__(self, "gas_token", to_checksum_address(self.gas_token))
        object.__setattr__(self, "refund_receiver", to_checksum_address(self.refund_receiver))
        object.__setattr__(self, "data", bytes(self.data))
        object.__setattr__(self, "operation", Operation(self.operation))

    def with_nonce(self, nonce: int) -> SafeTx:
        return replace(self, nonce=nonce)

    def exec_args(self, signatures: bytes) -> tuple:
        """The arguments of `Safe.execTransaction` (the nonce is the Safe's own)."""
        return (self.to, self.value, self.data, int(self.operation), self.safe_tx_gas, self.base_gas,
                self.gas_price, self.gas_token, self.refund_receiver, signatures)

    def hash_args(self) -> tuple:
        """The arguments of `Safe.getTransactionHash`."""
        return (self.to, self.value, self.data, int(self.operation), self.safe_tx_gas, self.base_gas,
                self.gas_price, self.gas_token, self.refund_receiver, self.nonce)


def domain_separator(chain_id: int, safe: str) -> bytes:
    return keccak(encode(["bytes32", "uint256", "address"], [DOMAIN_TYPEHASH, chain_id, to_checksum_address(safe)]))


def safe_tx_hash(tx: SafeTx, chain_id: int, safe: str) -> bytes:
    """The digest `Safe.getTransactionHash` returns for `tx` on `safe` at `chain_id`."""
    struct = encode(
        ["bytes32", "address", "uint256", "bytes32", "uint8", "uint256", "uint256", "uint256", "address", "address", "uint256"],
        [SAFE_TX_TYPEHASH, tx.to, tx.value, keccak(tx.data), int(tx.operation), tx.safe_tx_gas, tx.base_gas,
         tx.gas_price, tx.gas_token, tx.refund_receiver, tx.nonce],
    )
    return keccak(b"\x19\x01" + domain_separator(chain_id, safe) + keccak(struct))


def typed_data(tx: SafeTx, chain_id: int, safe: str) -> dict:
    """The same SafeTx as EIP-712 typed data (what a hardware wallet or eth_account signs)."""
    return {
        "types": {
            "EIP712Domain": [{"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"}],
            "SafeTx": [
                {"name": "to", "type": "address"}, {"name": "value", "type": "uint256"}, {"name": "data", "type": "bytes"},
                {"name": "operation", "type": "uint8"}, {"name": "safeTxGas", "type": "uint256"},
                {"name": "baseGas", "type": "uint256"}, {"name": "gasPrice", "type": "uint256"},
                {"name": "gasToken", "type": "address"}, {"name": "refundReceiver", "type": "address"},
                {"name": "nonce", "type": "uint256"},
            ],
        },
        "primaryType": "SafeTx",
        "domain": {"chainId": chain_id, "verifyingContract": to_checksum_address(safe)},
        "message": {
            "to": tx.to, "value": tx.value, "data": tx.data, "operation": int(tx.operation),
            "safeTxGas": tx.safe_tx_gas, "baseGas": tx.base_gas, "gasPrice": tx.gas_price,
            "gasToken": tx.gas_token, "refundReceiver": tx.refund_receiver, "nonce": tx.nonce,
        },
    }
