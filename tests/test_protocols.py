"""The protocol adapters' pure parts: prices, ticks, Morpho's share maths and market ids."""

from fractions import Fraction

from eth_abi import decode

from concilium.protocols import morpho, uniswap_v2, uniswap_v3, weth

A, B = "0x" + "11" * 20, "0x" + "22" * 20  # A sorts first


def test_sqrt_price_round_trips_in_either_token_order():
    for a, b in ((A, B), (B, A)):
        for price in (Fraction(3000), Fraction(1, 3000), Fraction(123456789, 1000)):
            s = uniswap_v3.sqrt_price_x96(price, a, b, 18, 6)
            assert abs(uniswap_v3.price_from_sqrt(s, a, b, 18, 6) / price - 1) < Fraction(1, 10**12)


def test_weth_at_3000_usdc_is_the_usual_sqrt_price():
    # token0 = WETH (18), token1 = USDC (6): 3000e6 / 1e18 raw, sqrt * 2**96
    assert uniswap_v3.sqrt_price_x96(Fraction(3000), A, B, 18, 6) == 4339505179874779489431521


def test_full_range_mint_uses_ticks_on_the_fee_spacing():
    call = uniswap_v3.mint_full_range("0x" + "33" * 20, B, A, 3000, 5, 7, A, 100)
    (t0, t1, fee, lower, upper, a0, a1, *_), = decode(
        ["(address,address,uint24,int24,int24,uint256,uint256,uint256,uint256,address,uint256)"], bytes.fromhex(call.data[10:]))
    assert (t0.lower(), t1.lower(), fee, lower, upper, a0, a1) == (A, B, 3000, -887220, 887220, 7, 5)


def test_v2_mid_price_is_b_per_a_in_token_units():
    r = uniswap_v2.Reserves("0x" + "00" * 20, reserve_a=100 * 10**18, reserve_b=300_000 * 10**6)
    assert r.price(18, 6) == 3000


def test_morpho_oracle_price_scale_and_health():
    assert morpho.oracle_price(Fraction(3000), 6, 18) == 3000 * 10**24
    p = morpho.Position(supplied=0, collateral=10**18, debt=1000 * 10**6, borrow_shares=1, max_debt=2580 * 10**6)
    assert p.health == Fraction(258, 100)
    assert morpho.Position(0, 0, 0, 0, 0).health is None


def test_morpho_shares_round_against_the_user():
    # supplied rounds down, debt rounds up (Morpho's SharesMathLib with 1e6 virtual shares)
    down, up = morpho._to_assets_down(10**12 + 7, 10**6, 10**12), morpho._to_assets_up(10**12 + 7, 10**6, 10**12)
    assert down == (10**12 + 7) * (10**6 + 1) // (10**12 + 10**6) and up == down + 1


def test_wrap_and_unwrap_calldata():
    assert weth.wrap(A, 5).data == "0xd0e30db0" and weth.wrap(A, 5).value == 5
    assert weth.unwrap(A, 5).data == "0x2e1a7d4d" + "%064x" % 5 and weth.unwrap(A, 5).value == 0


def test_mid_out_is_the_price_without_fee_or_impact():
    r = uniswap_v2.Reserves("0x" + "00" * 20, reserve_a=100 * 10**18, reserve_b=300_000 * 10**6)
    assert r.mid_out(10**18) == 3000 * 10**6
    s = uniswap_v3.sqrt_price_x96(Fraction(3000), A, B, 18, 6)
    assert abs(uniswap_v3.mid_out(s, A, B, 10**18) - 3000 * 10**6) <= 1
    assert abs(uniswap_v3.mid_out(s, B, A, 3000 * 10**6) - 10**18) <= 10**6
