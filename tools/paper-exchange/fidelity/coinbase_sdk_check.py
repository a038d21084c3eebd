"""Fidelity check: Coinbase's official Advanced Trade SDK (PyPI `coinbase-advanced-py`, module
`coinbase.rest`) against the paper exchange's Coinbase dialect, with nothing changed but the
base URL, and one transport adapter (below).

The SDK always sends `https://{base_url}{path}` (rest_base.send_request) through its own
`requests.Session` (`client.session`), and signs `uri = "METHOD {base_url}{path}"` into each
request's ES256 JWT. The paper exchange serves plain HTTP on loopback, so the check mounts on
that session a transport adapter that sends the request it is given, unchanged (method, path,
query, JSON body, headers, the SDK's JWT), over http:// to the same host and port. Everything
above the socket is the SDK's own code.

Usage: python coinbase_sdk_check.py <base_url>
Uses the account of tools/paper-exchange/fidelity/coinbase_venue.toml. Exits non-zero on any
mismatch.
"""
# paper-venue: coinbase_venue.toml
# paper-venv: coinbase

import os
import sys
import tomllib
from decimal import Decimal
from urllib.parse import urlsplit

from coinbase.rest import RESTClient
from requests.adapters import HTTPAdapter
from requests.exceptions import HTTPError

VENUE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "coinbase_venue.toml")


class LoopbackHttp(HTTPAdapter):
    """Sends the SDK's https:// requests to the paper exchange over plain http://."""

    def send(self, request, **kwargs):
        request.url = "http://" + request.url.removeprefix("https://")
        return super().send(request, **kwargs)


def expect_http_error(status, error, call, *args, **kwargs):
    """Calls `call` and requires the SDK to raise HTTPError with `status` (and, unless None,
    the Coinbase `error` in the body)."""
    try:
        call(*args, **kwargs)
    except HTTPError as e:
        got = e.response.status_code
        body = e.response.text
        assert got == status, f"expected {status}, got {got}: {body}"
        if error is not None:
            assert e.response.json()["error"] == error, body
        print(f"  {call.__name__}: {got} {body.strip()}")
        return
    raise AssertionError(f"expected HTTP {status} from {call.__name__}")


def client_for(host, api_key, secret):
    client = RESTClient(api_key=api_key, api_secret=secret, base_url=host, timeout=5)
    client.session.mount(f"https://{host}/", LoopbackHttp())
    return client


def main(base_url):
    host = urlsplit(base_url).netloc
    with open(VENUE, "rb") as f:
        account = tomllib.load(f)["accounts"][0]
    client = client_for(host, account["api_key"], account["secret"])

    print("public and market data")
    now = client.get_unix_time().to_dict()
    assert int(now["epoch_millis"]) // 1000 == int(now["epoch_seconds"]) and now["iso"].endswith("Z"), now
    products = client.get_products().to_dict()["products"]
    assert [p["product_id"] for p in products] == ["BTC-USDT", "ETH-USDT"], products
    btc = client.get_product("BTC-USDT").to_dict()
    assert (btc["base_increment"], btc["quote_increment"], btc["base_min_size"]) == ("0.00001", "0.01", "0.00001"), btc
    assert btc["status"] == "online" and btc["trading_disabled"] is False, btc
    book = client.get_product_book("BTC-USDT", limit=5).to_dict()["pricebook"]
    assert len(book["bids"]) == 5 and len(book["asks"]) == 5, book
    best_bid = Decimal(book["bids"][0]["price"])
    best = client.get_best_bid_ask(["BTC-USDT"]).to_dict()["pricebooks"]
    assert [b["product_id"] for b in best] == ["BTC-USDT"] and Decimal(best[0]["bids"][0]["price"]) == best_bid, best
    fees = client.get_transaction_summary().to_dict()["fee_tier"]
    assert (Decimal(fees["maker_fee_rate"]), Decimal(fees["taker_fee_rate"])) == (Decimal("0.004"), Decimal("0.006")), fees

    print("accounts")
    wallets = {a["currency"]: a for a in client.get_accounts().to_dict()["accounts"]}
    assert Decimal(wallets["USDT"]["available_balance"]["value"]) == Decimal("100000"), wallets["USDT"]
    usdt = client.get_account(wallets["USDT"]["uuid"]).to_dict()["account"]
    assert usdt["uuid"] == wallets["USDT"]["uuid"] and Decimal(usdt["hold"]["value"]) == 0, usdt

    print("place, repeat, get, list, cancel")
    price = (best_bid * Decimal("0.99")).quantize(Decimal("0.01"))
    placed = client.limit_order_gtc_buy(
        client_order_id="fidelity-leg-1", product_id="BTC-USDT", base_size="0.01000", limit_price=str(price)
    ).to_dict()
    assert placed["success"] is True, placed
    order_id = placed["success_response"]["order_id"]
    assert placed["success_response"]["client_order_id"] == "fidelity-leg-1", placed
    again = client.limit_order_gtc_buy(
        client_order_id="fidelity-leg-1", product_id="BTC-USDT", base_size="0.02000", limit_price=str(price)
    ).to_dict()
    assert again["success"] is True and again["success_response"]["order_id"] == order_id, again
    order = client.get_order(order_id).to_dict()["order"]
    assert order["status"] == "OPEN" and order["client_order_id"] == "fidelity-leg-1", order
    assert Decimal(order["order_configuration"]["limit_limit_gtc"]["base_size"]) == Decimal("0.01"), order
    listed = client.list_orders(product_ids=["BTC-USDT"], order_status=["OPEN"]).to_dict()["orders"]
    assert [o["order_id"] for o in listed] == [order_id], listed
    hold = client.get_account(wallets["USDT"]["uuid"]).to_dict()["account"]["hold"]["value"]
    # The cost and its fee at the higher rate (0.6 %): Coinbase holds a buy's fee too.
    assert Decimal(hold) == price * Decimal("0.01") * Decimal("1.006"), hold
    cancelled = client.cancel_orders([order_id]).to_dict()["results"]
    assert cancelled == [{"success": True, "failure_reason": "UNKNOWN_CANCEL_FAILURE_REASON", "order_id": order_id}], cancelled
    assert client.get_order(order_id).to_dict()["order"]["status"] == "CANCELLED"

    print("a taker order and its fills")
    taker = client.limit_order_ioc_buy(
        client_order_id="fidelity-leg-2", product_id="BTC-USDT", base_size="0.02", limit_price=str(price * 2)
    ).to_dict()
    assert taker["success"] is True, taker
    fills = client.get_fills(order_ids=[taker["success_response"]["order_id"]]).to_dict()["fills"]
    assert sum(Decimal(f["size"]) for f in fills) == Decimal("0.02"), fills
    assert all(f["liquidity_indicator"] == "TAKER" and Decimal(f["commission"]) > 0 for f in fills), fills

    print("errors")
    refused = client.limit_order_gtc_buy(
        client_order_id="fidelity-leg-3", product_id="BTC-USDT", base_size="50", limit_price=str(price)
    ).to_dict()
    assert refused["success"] is False and refused["error_response"]["error"] == "INSUFFICIENT_FUND", refused
    expect_http_error(404, "NOT_FOUND", client.get_order, "7061706e-7065-4000-8000-000000987654")
    stranger = client_for(host, "organizations/none/apiKeys/none", account["secret"])
    expect_http_error(401, None, stranger.get_accounts)
    print("coinbase-advanced-py works against the paper exchange")


if __name__ == "__main__":
    main(sys.argv[1])
