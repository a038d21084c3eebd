"""Fidelity check: Binance's own spot SDK (PyPI `binance-sdk-spot`, the maintained successor of
the deprecated `binance-connector`) against the paper exchange, with nothing changed but the
base URL (`ConfigurationRestAPI(base_path=...)`).

Usage: python binance_sdk_spot_check.py <base_url>
Uses the accounts of tools/paper-exchange/fidelity/venue.toml. Exits non-zero on any mismatch,
and on any answer the SDK could not read into its own response model (it would otherwise only
log a warning and hand back the raw payload).
"""

import logging
import sys
from decimal import Decimal

from binance_common.configuration import ConfigurationRestAPI
from binance_common.errors import BadRequestError, UnauthorizedError
from binance_sdk_spot.rest_api.models import (
    KlinesIntervalEnum,
    NewOrderSideEnum,
    NewOrderTimeInForceEnum,
    NewOrderTypeEnum,
    Ticker24hrTypeEnum,
)
from binance_sdk_spot.spot import Spot

from fidelity_common import expect_error as check_error


class ModelMismatches(logging.Handler):
    """Collects the SDK's warnings that an answer did not fit its response model."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.seen = []

    def emit(self, record):
        message = record.getMessage()
        if "did not match the declared types" in message or "Failed to parse" in message:
            self.seen.append(message)


def expect_error(error_type, code, call, *args, **kwargs):
    # The SDK puts the venue's error code in `status_code` and its message in `error_message`.
    check_error(error_type, lambda e: (type(e).__name__, e.status_code, e.error_message), code, call, *args, **kwargs)


def used_weight(response):
    return next(r.count for r in response.rate_limits if r.rateLimitType == "REQUEST_WEIGHT" and r.interval == "MINUTE")


def weighs(expected, call, *args, **kwargs):
    """Calls `call` and checks the weight it used (the X-MBX-USED-WEIGHT-1M it reports); tries
    once more if the minute's window rolled over in between."""
    for _ in range(2):
        before = used_weight(client.rest_api.ping())
        response = call(*args, **kwargs)
        used = used_weight(response) - before
        if used >= 0:
            assert used == expected, f"{call.__name__} weighed {used}, expected {expected}"
            return response
    raise AssertionError(f"could not weigh {call.__name__}")


client = None


def main(base_url):
    global client
    mismatches = ModelMismatches()
    logging.getLogger().addHandler(mismatches)
    config = ConfigurationRestAPI(api_key="fidelity-key", api_secret="fidelity-secret", base_path=base_url)
    client = Spot(config_rest_api=config)
    api = client.rest_api

    print("time, exchange info, depth")
    assert api.time().data().server_time > 0
    info = weighs(20, api.exchange_info, symbol="BTCUSDT").data()
    filters = {f.actual_instance.filter_type: f.actual_instance for f in info.symbols[0].filters}
    tick = Decimal(filters["PRICE_FILTER"].tick_size).normalize()
    step = Decimal(filters["LOT_SIZE"].step_size).normalize()
    assert (tick, step) == (Decimal("0.01"), Decimal("0.00001")), (tick, step)
    listed = api.exchange_info(symbols=["BTCUSDT", "ETHUSDT"]).data()
    assert [s.symbol for s in listed.symbols] == ["BTCUSDT", "ETHUSDT"], listed.symbols
    spot = api.exchange_info(permissions="SPOT").data()
    assert len(spot.symbols) == 2, spot.symbols
    book = weighs(5, api.depth, symbol="BTCUSDT", limit=5).data()
    assert len(book.bids) == 5 and len(book.asks) == 5, book
    best_ask = Decimal(book.asks[0][0])

    print("a market buy, then the tape: 24hr ticker, recent trades, klines, average price")
    bought = api.new_order(
        symbol="BTCUSDT", side=NewOrderSideEnum.BUY, type=NewOrderTypeEnum.MARKET, quantity=Decimal("0.01")
    ).data()
    assert bought.status == "FILLED" and len(bought.fills) == 1, bought
    fill_price = Decimal(bought.fills[0].price)
    assert fill_price == best_ask, (fill_price, best_ask)
    day = weighs(2, api.ticker24hr, symbol="BTCUSDT").data().actual_instance
    assert Decimal(day.last_price) == fill_price and Decimal(day.volume) == Decimal("0.01"), day
    assert day.count == 1 and day.first_id == day.last_id == bought.fills[0].trade_id, day
    mini = api.ticker24hr(symbols=["BTCUSDT", "ETHUSDT"], type=Ticker24hrTypeEnum.MINI).data().actual_instance
    assert [t.symbol for t in mini] == ["BTCUSDT", "ETHUSDT"] and mini[1].count == 0, mini
    tape = weighs(25, api.get_trades, symbol="BTCUSDT", limit=5).data()
    assert len(tape) == 1 and tape[0].id == bought.fills[0].trade_id, tape
    assert Decimal(tape[0].price) == fill_price and tape[0].is_buyer_maker is False, tape[0]
    candles = weighs(2, api.klines, symbol="BTCUSDT", interval=KlinesIntervalEnum.INTERVAL_1m, limit=3).data()
    last = candles[-1]
    assert Decimal(last[4]) == fill_price and Decimal(last[5]) == Decimal("0.01") and last[8] == 1, candles
    avg = weighs(2, api.avg_price, symbol="BTCUSDT").data()
    assert avg.mins == 5 and Decimal(avg.price) == fill_price, avg

    print("account, commission")
    account = weighs(20, api.get_account, omit_zero_balances=True).data()
    balances = {b.asset: b for b in account.balances}
    assert set(balances) == {"BTC", "USDT"}, balances
    assert Decimal(balances["BTC"].free) == Decimal("1.01") - Decimal("0.00001"), balances["BTC"]
    rates = weighs(20, api.account_commission, symbol="BTCUSDT").data()
    assert Decimal(rates.standard_commission.maker) == Decimal("0.001"), rates
    assert Decimal(rates.standard_commission.taker) == Decimal("0.001"), rates

    print("a limit order: placed, queried, listed, cancelled")
    price = (fill_price * Decimal("0.99")).quantize(tick)
    placed = api.new_order(
        symbol="BTCUSDT",
        side=NewOrderSideEnum.BUY,
        type=NewOrderTypeEnum.LIMIT,
        time_in_force=NewOrderTimeInForceEnum.GTC,
        quantity=Decimal("0.01"),
        price=price,
        new_client_order_id="sdk-leg-1",
    ).data()
    assert placed.status == "NEW" and placed.client_order_id == "sdk-leg-1", placed
    queried = weighs(4, api.get_order, symbol="BTCUSDT", order_id=placed.order_id).data()
    assert queried.status == "NEW" and Decimal(queried.price) == price, queried
    by_client = api.get_order(symbol="BTCUSDT", orig_client_order_id="sdk-leg-1").data()
    assert by_client.order_id == placed.order_id, by_client
    open_orders = weighs(6, api.get_open_orders, symbol="BTCUSDT").data()
    assert [o.order_id for o in open_orders] == [placed.order_id], open_orders
    every = weighs(20, api.all_orders, symbol="BTCUSDT").data()
    assert [(o.order_id, o.status) for o in every] == [(bought.order_id, "FILLED"), (placed.order_id, "NEW")], every
    cancelled = api.delete_order(symbol="BTCUSDT", order_id=placed.order_id).data()
    assert cancelled.status == "CANCELED", cancelled
    assert api.get_open_orders().data() == []
    every = api.all_orders(symbol="BTCUSDT", order_id=placed.order_id).data()
    assert [(o.order_id, o.status) for o in every] == [(placed.order_id, "CANCELED")], every

    print("the account's trades")
    mine = weighs(20, api.my_trades, symbol="BTCUSDT").data()
    assert [(t.order_id, t.id, t.is_buyer) for t in mine] == [(bought.order_id, bought.fills[0].trade_id, True)], mine

    print("errors carry the venue's codes")
    expect_error(BadRequestError, -2013, api.get_order, symbol="BTCUSDT", order_id=999999)
    expect_error(BadRequestError, -1121, api.klines, symbol="NOPEUSDT", interval=KlinesIntervalEnum.INTERVAL_1h)
    expect_error(
        BadRequestError, -1013, api.new_order,
        symbol="BTCUSDT", side=NewOrderSideEnum.BUY, type=NewOrderTypeEnum.LIMIT,
        time_in_force=NewOrderTimeInForceEnum.GTC, quantity=Decimal("0.000001"), price=price,
    )
    stranger = Spot(config_rest_api=ConfigurationRestAPI(api_key="nobody", api_secret="nothing", base_path=base_url))
    expect_error(UnauthorizedError, -2015, stranger.rest_api.get_account)

    assert not mismatches.seen, "answers the SDK could not read into its models:\n" + "\n".join(mismatches.seen)
    print("binance-sdk-spot: all checks passed")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
