"""What the fidelity checks share: asserting that a client call is refused with the venue's
error code, whatever exception type and field names the client library uses.
"""


def expect_error(error_type, describe, code, call, *args, **kwargs):
    """Calls `call` and requires it to raise `error_type` with the Binance error `code`;
    `describe(e)` gives the exception's (HTTP status, error code, message)."""
    try:
        call(*args, **kwargs)
    except error_type as e:
        status, got, message = describe(e)
        assert got == code, f"expected {code}, got {got}: {message}"
        print(f"  {call.__name__}: {status} {got} {message}")
        return
    raise AssertionError(f"expected error {code} from {call.__name__}")
