"""moto's server (as `moto_server`), with DynamoDB requests serialized.

Real DynamoDB applies the writes to one item one at a time, so of two conditional writes
racing on it exactly one sees the other's result. moto 5.2.5's threaded server checks a
condition and writes without a lock: two racing claims both succeed (measured). Serializing
DynamoDB requests restores the guarantee the ledger is built on; SQS long polls and other
services keep running concurrently.

usage: moto_server.py HOST PORT
"""

import os
import sys
import threading

from werkzeug.serving import run_simple

from moto.server import DomainDispatcherApplication, create_backend_app


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    os.environ.setdefault("MOTO_PORT", str(port))
    app = DomainDispatcherApplication(create_backend_app)
    dynamodb = threading.Lock()

    def serialized(environ, start_response):
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            with dynamodb:
                # Consume the body under the lock: the write happens while it is built.
                return list(app(environ, start_response))
        return app(environ, start_response)

    run_simple(host, port, serialized, threaded=True)


if __name__ == "__main__":
    main()
