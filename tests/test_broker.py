"""The embedded filesystem broker delivers each message exactly once under load.

kombu's stock filesystem transport lets a consumer read a half-written message
(kombu issue 1551); ours writes atomically and claims by rename.
"""

from __future__ import annotations

import multiprocessing
import queue

from kombu import Connection

from dermgmt.broker import FilesystemTransport

PRODUCERS, CONSUMERS, PER_PRODUCER = 3, 3, 400
PAYLOAD = "x" * 20_000  # large enough that a write is not one syscall


def connection(folder: str) -> Connection:
    return Connection(
        "filesystem://",
        transport=FilesystemTransport,
        transport_options={
            "data_folder_in": folder,
            "data_folder_out": folder,
            "control_folder": folder + "-control",
            "polling_interval": 0.01,
        },
    )


def produce(folder: str, producer: int) -> None:
    with connection(folder) as conn:
        simple = conn.SimpleQueue("load")
        for n in range(PER_PRODUCER):
            simple.put({"id": f"{producer}-{n}", "body": PAYLOAD})
        simple.close()


def consume(folder: str, results) -> None:
    seen = []
    with connection(folder) as conn:
        simple = conn.SimpleQueue("load")
        while True:
            try:
                message = simple.get(timeout=3)
            except queue.Empty:
                break
            assert message.payload["body"] == PAYLOAD
            seen.append(message.payload["id"])
            message.ack()
        simple.close()
    results.put(seen)


def test_it_delivers_every_message_once_across_processes(tmp_path):
    folder = str(tmp_path / "queue")
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    consumers = [
        context.Process(target=consume, args=(folder, results))
        for _ in range(CONSUMERS)
    ]
    producers = [
        context.Process(target=produce, args=(folder, p)) for p in range(PRODUCERS)
    ]
    for process in consumers + producers:
        process.start()
    received = [results.get(timeout=120) for _ in consumers]
    for process in consumers + producers:
        process.join(timeout=30)
        assert process.exitcode == 0

    ids = [message_id for seen in received for message_id in seen]
    expected = {f"{p}-{n}" for p in range(PRODUCERS) for n in range(PER_PRODUCER)}
    assert len(ids) == len(expected)  # nothing twice
    assert set(ids) == expected  # nothing lost
    assert sum(1 for seen in received if seen) >= 2  # the work was really shared
