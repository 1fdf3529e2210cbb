"""Flow derivation from logs and call frames: pure, no chain. Each approval shape and transfer
standard the guard must see, attributed to the right wallet and counterparty."""

from eth_abi import encode

from concilium.chain.flows import (APPROVAL, APPROVAL_FOR_ALL, ETH, NATIVE, PERMIT2_APPROVAL, TRANSFER, TRANSFER_BATCH,
                                   TRANSFER_SINGLE, UNLIMITED, WETH_WITHDRAWAL, flows_from_logs, logs_from_call_frame)

ME = "0x1111111111111111111111111111111111111111"
BOB = "0x2222222222222222222222222222222222222222"
TOKEN = "0x3333333333333333333333333333333333333333"
PERMIT2 = "0x000000000022D473030F116dDEE9F6B43aC78BA3"


def t(addr: str) -> str:
    return "0x" + "0" * 24 + addr[2:].lower()


def log(address, topics, *words, types=None):
    data = encode(types or ["uint256"] * len(words), list(words)) if words else b""
    return {"address": address, "topics": topics, "data": "0x" + data.hex()}


def test_erc20_transfer_out_and_in_give_flows_and_net():
    f = flows_from_logs([log(TOKEN, [TRANSFER, t(ME), t(BOB)], 500), log(TOKEN, [TRANSFER, t(BOB), t(ME)], 200)], ME)
    [out], [inn] = f.of("out"), f.of("in")
    assert (out.asset, out.counterparty, out.amount) == (TOKEN, BOB, 500)
    assert (inn.counterparty, inn.amount) == (BOB, 200)
    assert f.net == {TOKEN: -300} and f.sent() == {TOKEN: 500}


def test_native_transfers_from_trace_transfers_are_eth():
    f = flows_from_logs([log(NATIVE.lower(), [TRANSFER, t(ME), t(BOB)], 10**18)], ME)
    assert [(x.asset, x.standard, x.amount) for x in f.of("out")] == [(ETH, "native", 10**18)]


def test_transfers_between_others_are_not_the_wallets():
    assert flows_from_logs([log(TOKEN, [TRANSFER, t(BOB), t(TOKEN)], 5)], ME).flows == ()


def test_receipt_value_counts_as_eth_out():
    f = flows_from_logs([], ME, value_sent=7, value_to=BOB)
    assert f.sent() == {ETH: 7} and f.of("out")[0].counterparty == BOB


def test_erc20_approval_and_unlimited_approval():
    f = flows_from_logs([log(TOKEN, [APPROVAL, t(ME), t(BOB)], 42), log(TOKEN, [APPROVAL, t(ME), t(TOKEN)], 2**256 - 1)], ME)
    assert [(a.counterparty, a.amount) for a in f.of("approval")] == [(BOB, 42), (TOKEN, UNLIMITED)]


def test_approvals_by_others_are_ignored():
    assert flows_from_logs([log(TOKEN, [APPROVAL, t(BOB), t(ME)], 42)], ME).flows == ()


def test_approval_for_all_is_an_unlimited_approval_and_false_revokes():
    on = flows_from_logs([log(TOKEN, [APPROVAL_FOR_ALL, t(ME), t(BOB)], 1)], ME).of("approval")[0]
    off = flows_from_logs([log(TOKEN, [APPROVAL_FOR_ALL, t(ME), t(BOB)], 0)], ME).of("approval")[0]
    assert (on.amount, off.amount) == (UNLIMITED, 0)


def test_permit2_approval_names_the_token_and_spender():
    [a] = flows_from_logs([log(PERMIT2, [PERMIT2_APPROVAL, t(ME), t(TOKEN), t(BOB)], 10, 99, types=["uint160", "uint48"])], ME).of("approval")
    assert (a.asset, a.counterparty, a.amount, a.standard, a.via) == (TOKEN, BOB, 10, "permit2", PERMIT2)


def test_erc721_transfer_and_erc1155_single_and_batch():
    nft = log(TOKEN, [TRANSFER, t(ME), t(BOB), "0x" + "0" * 63 + "9"])
    single = log(TOKEN, [TRANSFER_SINGLE, t(BOB), t(ME), t(BOB)], 3, 4)
    batch = log(TOKEN, [TRANSFER_BATCH, t(BOB), t(ME), t(BOB)], [1, 2], [5, 6], types=["uint256[]", "uint256[]"])
    f = flows_from_logs([nft, single, batch], ME)
    assert [(x.standard, x.token_id, x.amount) for x in f.of("out")] == [("erc721", 9, 1), ("erc1155", 3, 4), ("erc1155", 1, 5), ("erc1155", 2, 6)]


def test_weth_withdrawal_is_weth_out():
    [out] = flows_from_logs([log(TOKEN, [WETH_WITHDRAWAL, t(ME)], 8)], ME).of("out")
    assert (out.asset, out.amount, out.standard) == (TOKEN, 8, "weth")


def test_call_frames_give_internal_eth_moves_and_skip_reverted_frames():
    frame = {"type": "CALL", "from": ME, "to": TOKEN, "value": "0x5", "calls": [
        {"type": "CALL", "from": TOKEN, "to": BOB, "value": "0x3"},
        {"type": "CALL", "from": TOKEN, "to": BOB, "value": "0x9", "error": "execution reverted",
         "logs": [log(TOKEN, [TRANSFER, t(ME), t(BOB)], 1)]},
        {"type": "DELEGATECALL", "from": TOKEN, "to": BOB, "value": "0x7"},
    ], "logs": [dict(log(TOKEN, [TRANSFER, t(ME), t(BOB)], 11), position="0x1")]}
    logs = logs_from_call_frame(frame)
    f = flows_from_logs(logs, ME)
    assert f.sent() == {ETH: 5, TOKEN: 11}
    assert len(logs) == 3  # ME->TOKEN 5 wei, TOKEN->BOB 3 wei, the token transfer


def test_amounts_scale_exactly_at_any_size():
    from concilium.tools.args import amount_text, base_units

    assert base_units("123456789012345678901234567890.123456789012345678", 18) == 123456789012345678901234567890123456789012345678
    assert amount_text(2**200, 18) == f"{2**200 // 10**18}.{2**200 % 10**18:018d}".rstrip("0")
    assert amount_text(1, 6) == "0.000001" and amount_text(10**7, 6) == "10"
