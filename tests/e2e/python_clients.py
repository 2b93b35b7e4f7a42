#!/usr/bin/env python3
"""End-to-end test with real clients: a ksqlDB client (ksql-python-ng) and a Kafka producer
(confluent-kafka) against a runnel-server binary with its embedded broker.

    python3 tests/e2e/python_clients.py PATH/TO/runnel-server

The flow a ksqlDB user would follow: confluent-kafka creates a topic and produces JSON
records; the ksqlDB client creates a stream over it, lists it, inserts rows through
/inserts-stream (HTTP/2), creates a persistent query, and reads everything back with push
queries over /query (HTTP/1.1) and /query-stream (HTTP/2). Exits non-zero on any mismatch.
"""

import json
import socket
import subprocess
import sys
import tempfile
import time

import httpx
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from ksql import KSQLAPI

EARLIEST = {"ksql.streams.auto.offset.reset": "earliest"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url, server, deadline_s=120):
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"runnel-server exited early with code {server.returncode}")
        try:
            if httpx.get(f"{url}/healthcheck", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"runnel-server did not become healthy at {url} within {deadline_s}s")


def push_query_http1(client, sql):
    """Rows of a LIMITed push query over /query (a JSON array streamed in chunks)."""
    body = "".join(client.query(sql, stream_properties=EARLIEST))
    frames = json.loads(body)
    assert "header" in frames[0], frames
    return [tuple(f["row"]["columns"]) for f in frames if "row" in f]


def push_query_http2(client, sql):
    """Rows of a LIMITed push query over /query-stream (one JSON document per line)."""
    body = "".join(client.query(sql, stream_properties=EARLIEST, use_http2=True))
    lines = [json.loads(line) for line in body.splitlines() if line.strip()]
    assert "queryId" in lines[0] and "columnNames" in lines[0], lines[0]
    return [tuple(row) for row in lines[1:]]


def check(actual, expected, what):
    if actual != expected:
        raise AssertionError(f"{what}: expected {expected}, got {actual}")
    print(f"ok: {what}")


def run(url, bootstrap):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic("e2e_clicks", num_partitions=2, replication_factor=1)]).values():
        future.result(30)
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True})
    produced = [("u1", "home"), ("u2", "cart"), ("u1", "checkout")]
    for user, page in produced:
        producer.produce("e2e_clicks", key=user.encode(), value=json.dumps({"PAGE": page}).encode())
    check(producer.flush(30), 0, "confluent-kafka delivered every record")

    client = KSQLAPI(url)
    created = client.ksql("CREATE STREAM CLICKS (USER_ID VARCHAR KEY, PAGE VARCHAR) WITH (kafka_topic='e2e_clicks', value_format='JSON');")
    check(created[0]["commandStatus"]["status"], "SUCCESS", "CREATE STREAM through the ksqlDB client")
    streams = client.ksql("SHOW STREAMS;")[0]["streams"]
    check("CLICKS" in [s["name"] for s in streams], True, "SHOW STREAMS lists CLICKS")

    inserted = [{"USER_ID": "u3", "PAGE": "home"}, {"USER_ID": "u2", "PAGE": "checkout"}]
    acks = client.inserts_stream("CLICKS", inserted)
    check([a.get("status") for a in acks], ["ok", "ok"], "/inserts-stream over HTTP/2 acknowledged every row")

    everything = sorted(produced + [(r["USER_ID"], r["PAGE"]) for r in inserted])
    check(sorted(push_query_http1(client, "SELECT USER_ID, PAGE FROM CLICKS EMIT CHANGES LIMIT 5;")), everything,
          "push query over /query reads produced and inserted rows")

    csas = client.ksql("CREATE STREAM CHECKOUTS AS SELECT USER_ID, PAGE FROM CLICKS WHERE PAGE = 'checkout';", stream_properties=EARLIEST)
    check(csas[0]["commandStatus"]["status"], "SUCCESS", "CREATE STREAM AS SELECT")
    checkouts = sorted(push_query_http2(client, "SELECT USER_ID, PAGE FROM CHECKOUTS EMIT CHANGES LIMIT 2;"))
    check(checkouts, [("u1", "checkout"), ("u2", "checkout")], "persistent query output read over /query-stream (HTTP/2)")


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    http_port, broker_port = free_port(), free_port()
    url = f"http://127.0.0.1:{http_port}"
    bootstrap = f"127.0.0.1:{broker_port}"
    with tempfile.TemporaryDirectory() as state_dir, open(f"{state_dir}/server.log", "w+") as log:
        server = subprocess.Popen(
            [sys.argv[1], "--listeners", url, "--embedded-broker-listener", bootstrap,
             "--embedded-broker-storage", "memory", "--state-dir", state_dir],
            stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_healthy(url, server)
            run(url, bootstrap)
        except Exception:
            log.flush()
            log.seek(0)
            print("---- runnel-server log ----\n" + log.read(), file=sys.stderr)
            raise
        finally:
            server.terminate()
            server.wait(30)
    print("python clients end-to-end: passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
