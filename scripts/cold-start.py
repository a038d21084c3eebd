#!/usr/bin/env python3
"""Cold start of the release Lambda binaries against a local Lambda runtime API.

Serves the runtime API on a free loopback port, spawns each `bootstrap`, and records, from the spawn: the first `GET .../invocation/next`
(configuration read, secret fetched, clients built: Lambda's init phase), the response to one
event (the first invocation), and the process's peak RSS (`/usr/bin/time -v`). Needs the local AWS emulator
(`scripts/with-moto.sh`); creates the secret, table and queue it needs there.

Usage: scripts/with-moto.sh .local/venv/bin/python scripts/cold-start.py \
           --scheduler target/release/scheduler --executor target/release/executor --runs 10
"""

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3

PREFIX = "/2018-06-01/runtime"


class Runtime(ThreadingHTTPServer):
    """One invocation: serves `event` on the first next, records when things happened."""

    def __init__(self, event):
        super().__init__(("127.0.0.1", 0), Handler)
        self.event = event
        self.reset()

    def reset(self):
        self.first_next = None
        self.response = None
        self.error = None
        self.served = False
        self.done = threading.Event()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        s = self.server
        if self.path != PREFIX + "/invocation/next":
            self.send_error(404)
            return
        now = time.monotonic()
        if s.served:
            # The second next: the invocation is over; hold the runtime here until killed.
            s.done.set()
            time.sleep(30)
            return
        s.first_next = now
        s.served = True
        body = json.dumps(s.event).encode()
        self.send_response(200)
        self.send_header("Lambda-Runtime-Aws-Request-Id", str(uuid.uuid4()))
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 60_000))
        self.send_header(
            "Lambda-Runtime-Invoked-Function-Arn",
            "arn:aws:lambda:us-east-1:123456789012:function:bench",
        )
        self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        s = self.server
        length = int(self.headers.get("Content-Length") or 0)
        payload = self.rfile.read(length)
        if "/response" in self.path:
            s.response = time.monotonic()
        else:
            s.error = payload.decode(errors="replace")
            s.done.set()
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()


def setup_aws(name):
    secrets = boto3.client("secretsmanager")
    secrets.create_secret(
        Name=name, SecretString=json.dumps({"api_key": "bench-key", "api_secret": "bench-secret"})
    )
    dynamodb = boto3.client("dynamodb")
    dynamodb.create_table(
        TableName=name,
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    queue_url = boto3.client("sqs").create_queue(QueueName=name)["QueueUrl"]
    return queue_url


def run_once(binary, event, env):
    runtime = Runtime(event)
    thread = threading.Thread(target=runtime.serve_forever, daemon=True)
    thread.start()
    env = dict(env, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{runtime.server_address[1]}")
    log = tempfile.TemporaryFile()
    report = tempfile.NamedTemporaryFile(mode="r")
    start = time.monotonic()
    # /usr/bin/time, not wait4 from here: Linux carries a process's peak RSS across exec, so
    # a child forked from this Python would report at least Python's own.
    proc = subprocess.Popen(
        ["/usr/bin/time", "-v", "-o", report.name, binary],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    finished = runtime.done.wait(timeout=30)
    with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as f:
        for child in f.read().split():
            os.kill(int(child), signal.SIGTERM)
    proc.wait(timeout=10)
    runtime.shutdown()
    runtime.server_close()
    if not finished or runtime.error or runtime.first_next is None or runtime.response is None:
        log.seek(0)
        sys.exit(
            f"{binary}: no clean invocation (error {runtime.error!r}); stderr:\n"
            + log.read().decode(errors="replace")[-2000:]
        )
    found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", report.read())
    rss_kb = int(found.group(1))
    return (runtime.first_next - start) * 1000, (runtime.response - start) * 1000, rss_kb


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--scheduler", required=True)
    parser.add_argument("--executor", required=True)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "")
    if not endpoint.startswith("http://127.0.0.1"):
        sys.exit("AWS_ENDPOINT_URL must be the local emulator (run under scripts/with-moto.sh)")
    name = f"cold-start-{os.getpid()}"
    queue_url = setup_aws(name)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_LAMBDA_FUNCTION_NAME": "bench",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/bench",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "DRIFTLINE_TABLE_NAME": name,
        "DRIFTLINE_INTENTS_QUEUE_URL": queue_url,
        # Never called: no portfolio is configured and the SQS event has no records.
        "DRIFTLINE_EXCHANGE_BASE_URL": "http://127.0.0.1:9",
        "DRIFTLINE_EXCHANGE_SECRET_ID": name,
    }
    events = {
        "scheduler": (
            args.scheduler,
            {
                "version": "0",
                "id": str(uuid.uuid4()),
                "detail-type": "Scheduled Event",
                "source": "aws.events",
                "account": "123456789012",
                "time": "2026-11-21T19:00:00Z",
                "region": "us-east-1",
                "resources": [],
                "detail": {},
            },
        ),
        "executor": (args.executor, {"Records": []}),
    }
    print(f"binary sizes: " + ", ".join(f"{k} {os.path.getsize(b)} bytes" for k, (b, _) in events.items()))
    print("| function | to first next-invocation (init) ms, median [min-max] | to first response ms, median | peak RSS MB, median [max] |")
    print("|---|---|---|---|")
    for function, (binary, event) in events.items():
        runs = [run_once(binary, event, env) for _ in range(args.runs)]
        init = [r[0] for r in runs]
        resp = [r[1] for r in runs]
        rss = [r[2] / 1024 for r in runs]
        print(
            f"| {function} | {statistics.median(init):.1f} [{min(init):.1f}-{max(init):.1f}] "
            f"| {statistics.median(resp):.1f} | {statistics.median(rss):.1f} [{max(rss):.1f}] |"
        )


if __name__ == "__main__":
    main()
