"""A local DynamoDB-protocol server for tests and `scripts/run`: moto's server, one request at a time.

Why not plain `moto_server`: moto applies a TransactWriteItems item by item and, on cancellation,
rolls back by restoring a copy of the whole table taken before it started. Two transactions in
two server threads can then undo each other's committed writes, which DynamoDB never does (it
serializes conflicting transactions). Serializing requests gives the tests DynamoDB's atomicity.

Usage: python scripts/dynamodb_server.py [--host 127.0.0.1] [--port 8000] [--exit-on-stdin-eof]
"""

import argparse
import os
import sys
import threading

from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--exit-on-stdin-eof",
        action="store_true",
        help="stop when standard input closes (so a test process that dies takes us along)",
    )
    args = parser.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))

    if args.exit_on_stdin_eof:

        def watch() -> None:
            sys.stdin.read()
            os._exit(0)

        threading.Thread(target=watch, daemon=True).start()

    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def serialized(environ, start_response):
        with lock:
            # Materialize the body inside the lock: the backend's work happens while iterating.
            return list(app(environ, start_response))

    run_simple(
        args.host,
        args.port,
        serialized,
        threaded=True,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main()
