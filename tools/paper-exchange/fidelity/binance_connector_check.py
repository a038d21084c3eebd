"""Fidelity check: the official Binance spot connector (PyPI `binance-connector`, module
`binance.spot`) against the paper exchange, with nothing changed but the base URL.

Usage: python binance_connector_check.py <base_url>
Uses the accounts of tools/paper-exchange/fidelity/venue.toml. Exits non-zero on any mismatch.
"""

import sys
from decimal import Decimal

from binance.error import ClientError
from binance.spot import Spot

from fidelity_common import expect_error as check_error


def expect_error(code, call, *args, **kwargs):
    check_error(ClientError, lambda e: (e.status_code, e.error_code, e.error_message), code, call, *args, **kwargs)


def main(base_url):
    client = Spot(api_key="fidelity-key", api_secret="fidelity-secret", base_url=base_url, timeout=5)
    print("public endpoints")
    assert client.ping() == {}
    assert client.time()["serverTime"] > 0
    info = client.exchange_info(symbol="BTCUSDT")
    filters = {f["filterType"]: f for f in info["symbols"][0]["filters"]}
    tick = Decimal(filters["PRICE_FILTER"]["tickSize"]).normalize()
    step = Decimal(filters["LOT_SIZE"]["stepSize"]).normalize()
    assert tick == Decimal("0.01") and step == Decimal("0.00001"), (tick, step)
    assert client.exchange_info(symbols=["BTCUSDT", "ETHUSDT"])["symbols"][1]["symbol"] == "ETHUSDT"
    book = client.depth("BTCUSDT", limit=5)
    assert len(book["bids"]) == 5 and len(book["asks"]) == 5
    best_bid = Decimal(book["bids"][0][0])
    assert Decimal(client.book_ticker("BTCUSDT")["bidPrice"]) == best_bid
    assert Decimal(client.ticker_price("BTCUSDT")["price"]) > 0

    print("account")
    balances = {b["asset"]: b for b in client.account()["balances"]}
    assert Decimal(balances["USDT"]["free"]) == Decimal("100000"), balances["USDT"]

    print("place, query, list, cancel")
    price = (best_bid * Decimal("0.99")).quantize(tick)
    placed = client.new_order(
        symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
        quantity="0.01000", price=str(price), newClientOrderId="fidelity-leg-1",
    )
    assert placed["status"] == "NEW" and placed["clientOrderId"] == "fidelity-leg-1", placed
    by_id = client.get_order("BTCUSDT", orderId=placed["orderId"])
    by_client = client.get_order("BTCUSDT", origClientOrderId="fidelity-leg-1")
    assert by_id == by_client and Decimal(by_id["origQty"]) == Decimal("0.01"), by_id
    open_orders = client.get_open_orders("BTCUSDT")
    assert [o["orderId"] for o in open_orders] == [placed["orderId"]], open_orders
    locked = {b["asset"]: b for b in client.account()["balances"]}["USDT"]["locked"]
    assert Decimal(locked) == price * Decimal("0.01"), locked
    cancelled = client.cancel_order("BTCUSDT", orderId=placed["orderId"])
    assert cancelled["status"] == "CANCELED", cancelled
    assert client.get_open_orders() == []

    print("market order with fills")
    market = client.new_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.02")
    assert market["status"] == "FILLED" and market["fills"], market
    assert all(f["commissionAsset"] == "BTC" for f in market["fills"])
    assert client.new_order_test(symbol="BTCUSDT", side="SELL", type="MARKET", quantity="0.01") == {}
    trades = client.my_trades("BTCUSDT", orderId=market["orderId"])
    assert sum(Decimal(t["qty"]) for t in trades) == Decimal("0.02"), trades

    print("cancel all open orders")
    for cid in ("fidelity-leg-2", "fidelity-leg-3"):
        client.new_order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                         quantity="0.01000", price=str(price), newClientOrderId=cid)
    cancelled = client.cancel_open_orders("BTCUSDT")
    assert sorted(o["origClientOrderId"] for o in cancelled) == ["fidelity-leg-2", "fidelity-leg-3"]
    assert client.get_open_orders("BTCUSDT") == []

    print("errors")
    expect_error(-2013, client.get_order, "BTCUSDT", orderId=987654)
    expect_error(-2011, client.cancel_order, "BTCUSDT", orderId=987654)
    expect_error(-1121, client.depth, "NOPEUSDT")
    expect_error(-1013, client.new_order, symbol="BTCUSDT", side="BUY", type="LIMIT",
                 timeInForce="GTC", quantity="0.000001", price=str(price))
    expect_error(-2010, client.new_order, symbol="BTCUSDT", side="SELL", type="LIMIT",
                 timeInForce="GTC", quantity="5000", price=str(price))
    wrong = Spot(api_key="fidelity-key", api_secret="wrong-secret", base_url=base_url)
    expect_error(-1022, wrong.account)
    print("binance-connector works against the paper exchange")


if __name__ == "__main__":
    main(sys.argv[1])
