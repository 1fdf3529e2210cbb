"""Amounts and durations as users write them in YAML: "2 ether", "50 gwei", "30s"."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_UNITS = {"wei": 0, "gwei": 9, "ether": 18, "eth": 18}
_AMOUNT = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(wei|gwei|ether|eth)\s*$", re.IGNORECASE)
_DURATION = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h|d)\s*$")
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_amount(value: object, default_unit: str = "ether") -> int:
    """'2 ether' -> 2*10**18 wei. A bare number is taken in `default_unit`."""
    if isinstance(value, bool):
        raise ValueError('expected an amount like "0.5 ether"')
    if isinstance(value, (int, float, Decimal)):
        number, unit = Decimal(str(value)), default_unit
    elif isinstance(value, str) and (m := _AMOUNT.match(value)):
        number, unit = Decimal(m.group(1)), m.group(2).lower()
    else:
        raise ValueError(f'expected an amount like "0.5 ether" or "50 gwei", got {value!r}')
    wei = number * (Decimal(10) ** _UNITS[unit])
    if wei != wei.to_integral_value() or wei < 0:
        raise ValueError(f"amount {value!r} is not a whole number of wei")
    return int(wei)


def parse_duration(value: object) -> float:
    """'30s' -> 30.0 seconds; a bare number is seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    if isinstance(value, str) and (m := _DURATION.match(value)):
        return float(m.group(1)) * _SECONDS[m.group(2)]
    raise ValueError(f'expected a duration like "30s", "5m" or "1h", got {value!r}')


def format_ether(wei: int) -> str:
    try:
        return f"{Decimal(wei) / Decimal(10**18):f} ETH"
    except InvalidOperation:  # pragma: no cover
        return f"{wei} wei"


def to_units(amount: float | Decimal, decimals: int) -> int:
    """A decimal amount in token units -> integer base units, rounded down."""
    return int(Decimal(str(amount)) * (Decimal(10) ** decimals))
