"""A minimal faust worker as User:docbus-processor over mTLS: ingress -> an inbox, counted in a table.

Run by test_processor.py as a subprocess; the same faust features the bus uses need the processor
ACLs: a consumer group, the leader topic and a table changelog it creates itself, producing."""

from __future__ import annotations

import os
from pathlib import Path

import faust

from infra.security import PROCESSOR
from producers.fetch_guard import guard_fetches
from schemas.connection import KafkaConnection, tls_paths

guard_fetches()  # as the bus does: ingress is written by every org
app = faust.App(
    os.environ["SEC_APP_ID"],
    broker=f"kafka://{os.environ['SEC_BOOTSTRAP']}",
    broker_credentials=faust.SSLCredentials(
        KafkaConnection(tls=tls_paths(Path(os.environ["SEC_PKI"]), PROCESSOR)).ssl_context()
    ),
    store="memory://",
    web_enabled=False,
    topic_replication_factor=1,
    topic_allow_declare=True,
    consumer_auto_offset_reset="earliest",
    datadir=os.environ["SEC_DATA"],
)
ingress = app.topic("docbus.ingress", value_serializer="raw", key_serializer="raw")
inbox = app.topic(os.environ["SEC_OUT"], value_serializer="raw", key_serializer="raw")
seen = app.Table("seen", default=int, partitions=6)  # co-partitioned with docbus.ingress


@app.agent(ingress)
async def route(stream):  # type: ignore[no-untyped-def]
    async for key, value in stream.items():
        seen[key] += 1
        await inbox.send(key=key, value=value)


if __name__ == "__main__":
    app.main()
