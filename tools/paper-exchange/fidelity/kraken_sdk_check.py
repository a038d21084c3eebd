"""Fidelity check: python-kraken-sdk (PyPI `python-kraken-sdk`, module `kraken.spot`), its spot
REST clients Market, User and Trade, against the paper exchange's Kraken dialect, with nothing
changed but the base URL (the clients' `url=` argument).

Usage: python kraken_sdk_check.py <base_url>
Uses the account of tools/paper-exchange/fidelity/kraken_venue.toml. Exits non-zero on any
mismatch.
"""
# paper-venue: kraken_venue.toml

import sys
from decimal import ROUND_DOWN, Decimal

from kraken.exceptions import (
    KrakenInsufficientFundsError,
    KrakenInvalidSignatureError,
    KrakenUnknownAssetError,
    KrakenUnknownOrderError,
)
from kraken.spot import Market, Trade, User

KEY = "fidelity-kraken-key"
SECRET = "a3Jha2VuLWZpZGVsaXR5LXNlY3JldC1mb3ItdGhlLXBhcGVyLWV4Y2hhbmdlLW5vdC1hLXJlYWwta2V5ISE="


def expect_error(error_type, message, call, *args, **kwargs):
    """Calls `call` and requires the SDK to raise `error_type` for Kraken's error `message`."""
    try:
        call(*args, **kwargs)
    except error_type as e:
        assert message in str(e), f"expected {message}, got {e}"
        print(f"  {call.__name__}: {message}")
        return
    raise AssertionError(f"expected {message} from {call.__name__}")


def main(base_url):
    market = Market(url=base_url)
    user = User(key=KEY, secret=SECRET, url=base_url)
    trade = Trade(key=KEY, secret=SECRET, url=base_url)

    print("public endpoints")
    # The SDK has no method for Time; its own request() calls it as it calls every endpoint.
    now = market.request("GET", "/0/public/Time", auth=False)
    assert now["unixtime"] > 0 and now["rfc1123"].endswith("+0000"), now
    assert market.get_system_status()["status"] == "online"
    assets = market.get_assets()
    assert assets["XXBT"]["altname"] == "XBT" and "ZUSD" in assets and "USDT" in assets, assets
    pairs = market.get_asset_pairs(pair="XBTUSD")
    btc = pairs["XXBTZUSD"]
    assert (btc["altname"], btc["wsname"], btc["base"], btc["quote"]) == ("XBTUSD", "XBT/USD", "XXBT", "ZUSD"), btc
    tick = Decimal(btc["tick_size"])
    assert tick == Decimal("0.1") and btc["pair_decimals"] == 1 and btc["lot_decimals"] == 8, btc
    assert Decimal(btc["ordermin"]) == Decimal("0.0001") and Decimal(btc["costmin"]) == Decimal("0.5"), btc
    assert btc["fees"][0][1] == 0.26 and btc["fees_maker"][0][1] == 0.16, btc
    assert "ETHUSDT" in market.get_asset_pairs(), "the non-classic pair is keyed by its altname"
    ticker = market.get_ticker(pair="XBTUSD")["XXBTZUSD"]
    best_bid, best_ask = Decimal(ticker["b"][0]), Decimal(ticker["a"][0])
    assert 0 < best_bid < best_ask, ticker
    book = market.get_order_book(pair="XBTUSD", count=5)["XXBTZUSD"]
    assert len(book["bids"]) == 5 and len(book["asks"]) == 5, book
    assert Decimal(book["bids"][0][0]) == best_bid, book

    print("balances")
    balance = user.get_account_balance()
    assert Decimal(balance["ZUSD"]) == Decimal("100000") and Decimal(balance["XXBT"]) == Decimal("1"), balance
    held = user.get_balances()
    assert Decimal(held["ZUSD"]["hold_trade"]) == 0, held
    assert user.get_balance(currency="ZUSD")["available_balance"] == 100000.0

    print("place, query, list open, cancel, list closed")
    price = (best_bid * Decimal("0.99")).quantize(tick)
    placed = trade.create_order(
        ordertype="limit", side="buy", pair="XBTUSD", volume="0.01", price=str(price),
        cl_ord_id="fidelity-leg-1",
    )
    txid = placed["txid"][0]
    assert txid.startswith("O") and [len(g) for g in txid.split("-")] == [6, 5, 6], placed
    assert placed["descr"]["order"] == f"buy 0.01000000 XBTUSD @ limit {price}", placed
    info = user.get_orders_info(txid=txid)[txid]
    assert info["status"] == "open" and info["cl_ord_id"] == "fidelity-leg-1", info
    assert Decimal(info["vol"]) == Decimal("0.01") and Decimal(info["descr"]["price"]) == price, info
    open_orders = user.get_open_orders()["open"]
    assert list(open_orders) == [txid], open_orders
    assert list(user.get_open_orders(cl_ord_id="fidelity-leg-1")["open"]) == [txid]
    # The cost and its fee at the higher rate (0.26 %): Kraken takes a buy's fee in USD (fciq).
    assert Decimal(user.get_balances()["ZUSD"]["hold_trade"]) == price * Decimal("0.01") * Decimal("1.0026")
    assert trade.cancel_order(txid=txid)["count"] == 1
    assert user.get_open_orders()["open"] == {}
    closed = user.get_closed_orders()
    assert closed["count"] == 1 and closed["closed"][txid]["status"] == "canceled", closed
    # Cancelling by cl_ord_id, as Kraken allows.
    again = trade.create_order(
        ordertype="limit", side="buy", pair="XBTUSD", volume="0.01", price=str(price),
        cl_ord_id="fidelity-leg-1", oflags="post",
    )
    assert trade.cancel_order(cl_ord_id="fidelity-leg-1")["count"] == 1, again

    print("a crossing order, its trades and fees")
    taken = trade.create_order(
        ordertype="limit", side="buy", pair="XBTUSD", volume="0.02",
        price=str((best_ask * Decimal("1.01")).quantize(tick)), timeinforce="IOC",
    )
    taken_id = taken["txid"][0]
    filled = user.get_orders_info(txid=taken_id, trades=True)[taken_id]
    assert filled["status"] == "closed" and Decimal(filled["vol_exec"]) == Decimal("0.02"), filled
    history = user.get_trades_history()
    trades = [t for t in history["trades"].values() if t["ordertxid"] == taken_id]
    assert history["count"] == len(trades) == len(filled["trades"]) > 0, history
    assert sum(Decimal(t["vol"]) for t in trades) == Decimal("0.02"), trades
    fees = sum(Decimal(t["fee"]) for t in trades)
    cost = sum(Decimal(t["cost"]) for t in trades)
    # Each trade's taker fee in USD, to 8 decimals, never more than the rate.
    for t in trades:
        want = (Decimal(t["cost"]) * Decimal("0.0026")).quantize(Decimal("0.00000001"), rounding=ROUND_DOWN)
        assert Decimal(t["fee"]) == want, t
    assert fees <= cost * Decimal("0.0026"), (fees, cost)
    assert Decimal(filled["fee"]) == fees, filled
    one = user.get_trades_info(txid=filled["trades"][0])
    assert one[filled["trades"][0]]["pair"] == "XXBTZUSD", one

    print("errors")
    expect_error(KrakenUnknownOrderError, "EOrder:Unknown order", trade.cancel_order, txid=txid)
    expect_error(KrakenInsufficientFundsError, "EOrder:Insufficient funds", trade.create_order,
                 ordertype="limit", side="sell", pair="XBTUSD", volume="5", price=str(best_ask))
    # The SDK finds the first of its error strings contained in Kraken's, so it raises its
    # unknown-asset error for "EQuery:Unknown asset pair"; the message is Kraken's.
    expect_error(KrakenUnknownAssetError, "EQuery:Unknown asset pair", market.get_order_book, pair="NOPEUSD")
    wrong = User(key=KEY, secret="d3Jvbmctc2VjcmV0", url=base_url)
    expect_error(KrakenInvalidSignatureError, "EAPI:Invalid signature", wrong.get_account_balance)
    print("python-kraken-sdk works against the paper exchange")


if __name__ == "__main__":
    main(sys.argv[1])
