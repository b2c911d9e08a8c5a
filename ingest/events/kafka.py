"""The Kafka source: the same events as the webhook, one topic per event kind
(realtime.yaml ``kafka.topics``), read by a consumer group with confluent-kafka.

At least once, applied once: a polled batch is committed to the inbox, applied, and only
then are the offsets committed. A consumer killed anywhere in between is sent the batch
again by the broker; the inbox ignores event ids it holds and applying is keyed by event
id, so nothing is lost and nothing counts twice. A message that is not a usable event is
quarantined with its topic/partition/offset (once, however often it is redelivered).
"""

from __future__ import annotations

import json

from segflow.errors import EnvironmentFailure, SegflowError
from segflow.faults import reach
from segflow.ingest.events.inbox import apply_pending, connect_inbox, identity_map, store
from segflow.ingest.events.offline import flush_all
from segflow.ingest.events.segment import Event, Rejected, message
from segflow.settings import Settings


def parse(msg) -> Event | Rejected:
    """A Kafka message (JSON value, Segment's message shape) as an inbox event."""
    ref = f"{msg.topic()}/{msg.partition()}/{msg.offset()}"
    raw = msg.value() or b""
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        return Rejected(f"message value is not JSON ({err})", raw.decode("utf-8", "replace"),
                        ref)
    parsed = message(data)
    return Rejected(parsed.reason, parsed.raw, ref) if isinstance(parsed, Rejected) else parsed


def consumer_config(bootstrap: str, group: str, errors: list) -> dict:
    """Offsets committed by hand after apply; librdkafka's own log lines are silenced
    (its connection errors reach ``errors`` and become one line of ours)."""
    return {"bootstrap.servers": bootstrap, "group.id": group,
            "enable.auto.commit": False, "auto.offset.reset": "earliest",
            "enable.partition.eof": True, "session.timeout.ms": 6000, "log_level": 0,
            "error_cb": errors.append}


def run_consumer(settings: Settings, config, bootstrap: str, batch: int = 1000,
                 until_caught_up: bool = False, report=None, on_applied=None,
                 admit=None) -> int:
    """Consume until stopped (Ctrl-C), or with ``until_caught_up`` until every assigned
    partition is read to its end and applied; returns the events applied.
    ``on_applied()`` is called after each applied micro-batch (the audit recorder's
    wake-up); ``admit`` is the live additions hook of ``apply_pending``."""
    from confluent_kafka import Consumer, KafkaError, KafkaException

    if not config.topics:
        raise SegflowError(f"no Kafka topics in {config.path} (kafka.topics: {{kind: topic}})")
    errors: list = []
    consumer = Consumer(consumer_config(bootstrap, config.group, errors))
    con = connect_inbox(settings)
    applied, at_end, reached = 0, set(), False
    try:
        consumer.subscribe(sorted(config.topics.values()))
        while True:
            polled = consumer.consume(num_messages=batch, timeout=0.5)
            reached = reached or bool(polled) or bool(consumer.assignment())
            down = [e for e in errors if e.code() == KafkaError._ALL_BROKERS_DOWN]
            if down and not reached:
                raise EnvironmentFailure(f"cannot reach Kafka at {bootstrap} "
                                         f"({down[0].str()}); is the broker running?")
            errors.clear()
            events, rejected = [], []
            for msg in polled:
                err = msg.error()
                if err is not None and err.code() == KafkaError._PARTITION_EOF:
                    at_end.add((msg.topic(), msg.partition()))
                elif err is not None:
                    if err.fatal() or not err.retriable():
                        raise EnvironmentFailure(f"Kafka at {bootstrap}: {err.str()}")
                else:
                    at_end.discard((msg.topic(), msg.partition()))
                    parsed = parse(msg)
                    (events if isinstance(parsed, Event) else rejected).append(parsed)
            if events or rejected:
                con.execute("BEGIN IMMEDIATE")
                try:
                    store(con, "kafka", events, rejected)
                    con.execute("COMMIT")
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
                reach(settings, "events.kafka_stored")
                while (n := apply_pending(con, settings, config, identity_map(settings),
                                          batch, admit)):
                    applied += n
                flush_all(con, settings, config)
                reach(settings, "events.kafka_applied")
                if on_applied is not None:
                    on_applied()
                consumer.commit(asynchronous=False)
                if report:
                    report(len(events), len(rejected))
            assigned = {(p.topic, p.partition) for p in consumer.assignment()}
            if until_caught_up and assigned and assigned <= at_end:
                return applied
    except KafkaException as err:
        raise EnvironmentFailure(f"Kafka at {bootstrap}: {err}") from None
    finally:
        consumer.close()
        con.close()
