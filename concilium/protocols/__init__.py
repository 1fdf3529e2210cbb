"""Adapters for the DeFi protocols agents use: pure calldata builders (`Call`) and async reads.

One module per protocol (weth, uniswap_v2, uniswap_v3, morpho). Nothing here signs or sends,
and nothing decides: the tools turn decisions into these calls and the guard judges them.
"""
