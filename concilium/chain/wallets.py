"""Signing keys: an encrypted keystore (password from an environment variable) or, on the
embedded chain only, one of anvil's dev accounts. A Wallet never shows its key: not in repr,
str, logs or errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from concilium.errors import WalletError
from concilium.spec import WalletSpec

# anvil's well-known dev accounts: public keys for the embedded chain only
DEV_MNEMONIC = "test test test test test test test test test test test junk"
DEV_CHAIN_ID = 31337

Account.enable_unaudited_hdwallet_features()


class Wallet:
    __slots__ = ("name", "_account")

    def __init__(self, name: str, account: LocalAccount):
        self.name = name
        self._account = account

    @property
    def address(self) -> str:
        return self._account.address

    def sign_transaction(self, tx: dict):
        return self._account.sign_transaction(tx)

    def sign_typed_data(self, full_message: dict):
        return self._account.sign_typed_data(full_message=full_message)

    def unsafe_sign_hash(self, digest: bytes):
        return self._account.unsafe_sign_hash(digest)

    def __repr__(self) -> str:
        return f"Wallet({self.name!r}, {self.address})"

    __str__ = __repr__

    def __reduce__(self):  # never pickle a key into a job store
        raise TypeError("wallets are not serialisable; pass the wallet name instead")


def dev_wallet(index: int, name: str | None = None) -> Wallet:
    acct = Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")
    return Wallet(name or f"dev{index}", acct)


def load_wallet(name: str, spec: WalletSpec, base_dir: Path = Path(".")) -> Wallet:
    if spec.dev_account is not None:
        return dev_wallet(spec.dev_account, name)
    path = spec.keystore if spec.keystore.is_absolute() else base_dir / spec.keystore  # type: ignore[union-attr]
    password = os.environ.get(spec.password_env or "")
    if password is None:
        raise WalletError(f"wallet {name!r}: environment variable {spec.password_env} is not set; export the keystore password")
    try:
        blob = json.loads(path.read_text())
    except OSError:
        raise WalletError(f"wallet {name!r}: cannot read keystore {path}; check wallets.{name}.keystore") from None
    except json.JSONDecodeError:
        raise WalletError(f"wallet {name!r}: {path} is not a JSON keystore") from None
    try:
        key = Account.decrypt(blob, password)
    except ValueError:
        raise WalletError(f"wallet {name!r}: wrong password for keystore {path} (from {spec.password_env})") from None
    return Wallet(name, Account.from_key(key))
