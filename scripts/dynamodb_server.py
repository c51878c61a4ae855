"""A local DynamoDB-protocol server for tests and `scripts/run`: moto's server, one request at a time.

Why not plain `moto_server`: moto applies a TransactWriteItems item by item and, on cancellation,
rolls back by restoring a copy of the whole table taken before it started. Two transactions in
two server threads can then undo each other's committed writes, which DynamoDB never does (it
serializes conflicting transactions). Serializing requests gives the tests DynamoDB's atomicity.

The same rollback also replaced the table's stream shard with the copy: the records a cancelled
transaction appended stayed in the shard that open iterators read, and those iterators never saw a
later change. DynamoDB streams only committed changes; so does this server: the copy shares the
shard, a cancelled transaction's records are taken back out of it, and it stays the one iterators
read.

Usage: python scripts/dynamodb_server.py [--host 127.0.0.1] [--port 8000] [--exit-on-stdin-eof]
"""

import argparse
import os
import sys
import threading

from werkzeug.serving import run_simple
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import StreamShard
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)


def stream_only_committed_transactions() -> None:
    transact = DynamoDBBackend.transact_write_items
    # The rollback copy of a table shares its shard (copying every record of the stream at
    # every transaction made a long soak slower and slower).
    StreamShard.__deepcopy__ = lambda self, memo: self

    def transact_write_items(self, transact_items):
        shards = {
            name: (table, table.stream_shard, len(table.stream_shard.items))
            for name, table in self.tables.items()
            if table.stream_shard is not None
        }
        try:
            return transact(self, transact_items)
        except Exception:
            for name, (before, shard, length) in shards.items():
                del shard.items[length:]
                restored = self.tables.get(name)
                if restored is not None and restored is not before:
                    restored.stream_shard = shard
                    shard.table = restored
            raise

    DynamoDBBackend.transact_write_items = transact_write_items


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

    stream_only_committed_transactions()
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
