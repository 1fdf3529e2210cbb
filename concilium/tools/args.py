"""Turning a decision's arguments into chain values: names into addresses, amounts in token
units into base units. Every write tool goes through these, so the `input` and `amount` rules
hold the same way for all of them."""

from __future__ import annotations

from decimal import Context, Decimal, InvalidOperation
from typing import Any

from concilium.seams.tool import AmountRefused, ToolInputError

ETH_DECIMALS = 18
_EXACT = Context(prec=200)  # scaling by 10**decimals must never round


def scaled(amount: Decimal, decimals: int) -> Decimal:
    """`amount` x 10**decimals, exactly."""
    return _EXACT.scaleb(amount, decimals)


def lookup(table: dict[str, Any], name: Any, what: str) -> Any:
    if not isinstance(name, str) or name not in table:
        raise ToolInputError(f"unknown {what} {name!r}; defined: {', '.join(sorted(table)) or '(none)'}")
    return table[name]


def base_units(amount: Any, decimals: int, what: str = "amount") -> int:
    """A positive amount in token units (number or decimal string) -> integer base units.
    Refuses (rule `amount`) zero, negatives, NaN/infinity, booleans, and amounts finer than one
    base unit, so nothing is rounded to a different value than the one decided."""
    if isinstance(amount, bool) or not isinstance(amount, (int, float, str, Decimal)):
        raise AmountRefused(f"{what} must be a number, got {amount!r}")
    try:
        d = Decimal(str(amount).strip())
    except InvalidOperation:
        raise AmountRefused(f"{what} {amount!r} is not a number") from None
    if not d.is_finite():
        raise AmountRefused(f"{what} {amount!r} is not a finite number")
    if d <= 0:
        raise AmountRefused(f"{what} {amount} must be above zero")
    if d.adjusted() > 80:
        raise AmountRefused(f"{what} {amount} is too large for any token")
    units = scaled(d, decimals)
    if units < 1:
        raise AmountRefused(f"{what} {amount} is below one base unit (the asset has {decimals} decimals)")
    if units != units.to_integral_value():
        raise AmountRefused(f"{what} {amount} has more than {decimals} decimals")
    return int(units)


async def token_amount(ctx: Any, args: dict[str, Any]) -> tuple[Any, int]:
    """`args["token"]` (a named contract) and `args["amount"]` in its units -> (ref, base units)."""
    token = lookup(ctx.contracts, args.get("token"), "token")
    return token, base_units(args.get("amount"), await ctx.decimals(token.name))


def wei(amount: Any, what: str = "amount") -> int:
    return base_units(amount, ETH_DECIMALS, what)


def amount_text(units: int, decimals: int) -> str:
    """Base units -> an exact decimal string in token units."""
    sign, units = ("-" if units < 0 else ""), abs(units)
    whole, frac = divmod(units, 10**decimals)
    return f"{sign}{whole}" + (f".{frac:0{decimals}d}".rstrip("0").rstrip(".") if frac else "")
