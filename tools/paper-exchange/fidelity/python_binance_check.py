"""Fidelity check: `python-binance` (PyPI) against the paper exchange, with nothing changed but
the base URL. Unlike binance-connector it sends POST and DELETE parameters in a form body, so
this exercises the body half of the venue's signing rule with a real client.

Usage: python python_binance_check.py <base_url>
"""

import sys
from decimal import Decimal

from binance.client import Client
from binance.exceptions import BinanceAPIException

from fidelity_common import expect_error as check_error


def expect_error(code, call, *args, **kwargs):
    check_error(BinanceAPIException, lambda e: (e.status_code, e.code, e.message), code, call, *args, **kwargs)


def main(base_url):
    client = Client("fidelity-key", "fidelity-secret", ping=False)
    client.API_URL = base_url + "/api"
    assert client.ping() == {}
    assert client.get_server_time()["serverTime"] > 0
    info = client.get_symbol_info("BTCUSDT")
    assert info["baseAsset"] == "BTC", info
    book = client.get_order_book(symbol="BTCUSDT", limit=5)
    best_bid = Decimal(book["bids"][0][0])
    price = (best_bid * Decimal("0.98")).quantize(Decimal("0.01"))

    placed = client.create_order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                                 quantity="0.01", price=str(price), newClientOrderId="pb-leg-1")
    assert placed["status"] == "NEW", placed
    got = client.get_order(symbol="BTCUSDT", origClientOrderId="pb-leg-1")
    assert got["orderId"] == placed["orderId"], got
    assert [o["orderId"] for o in client.get_open_orders(symbol="BTCUSDT")] == [placed["orderId"]]
    cancelled = client.cancel_order(symbol="BTCUSDT", orderId=placed["orderId"])
    assert cancelled["status"] == "CANCELED", cancelled
    filled = client.order_market_sell(symbol="BTCUSDT", quantity="0.01")
    assert filled["status"] == "FILLED" and filled["fills"][0]["commissionAsset"] == "USDT", filled
    balances = {b["asset"]: b for b in client.get_account()["balances"]}
    assert Decimal(balances["BTC"]["free"]) == Decimal("0.99"), balances["BTC"]
    # python-binance asks for recent trades at /api/v1/trades: the sell just made is the latest.
    trades = client.get_recent_trades(symbol="BTCUSDT", limit=5)
    assert trades and Decimal(trades[-1]["qty"]) == Decimal("0.01"), trades

    expect_error(-2013, client.get_order, symbol="BTCUSDT", orderId=424242)
    expect_error(-2011, client.cancel_order, symbol="BTCUSDT", orderId=424242)
    expect_error(-1013, client.create_order, symbol="BTCUSDT", side="BUY", type="LIMIT",
                 timeInForce="GTC", quantity="0.01", price="1.001")
    expect_error(-2010, client.create_order, symbol="BTCUSDT", side="SELL", type="MARKET",
                 quantity="50")
    print("python-binance works against the paper exchange")


if __name__ == "__main__":
    main(sys.argv[1])
