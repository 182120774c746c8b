"""The embedded development broker: kombu's filesystem transport, multi-process safe.

kombu's stock filesystem transport writes a message file in place, so a worker
polling the folder can pick up a half-written file and crash on the JSON
(kombu issue 1551); and with `store_processed` off it moves a taken message to the
system temp folder, which is a copy (and a chance for two workers to both take
it) when /tmp is another filesystem.

Here a message is written under a hidden temporary name and renamed into place
(rename is atomic on one filesystem), and a consumer claims a message by renaming
it into a folder of its own next to the queue: whoever's rename succeeds owns it.

Development only: a message a worker took and then died with is lost. Production
uses Redis or RabbitMQ.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from queue import Empty
from time import monotonic

from kombu.transport import filesystem
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        folder = Path(self.data_folder_out)
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        temporary = folder / f".tmp-{uuid.uuid4()}"
        temporary.write_bytes(str_to_bytes(dumps(payload)))
        os.replace(temporary, folder / name)

    def _get(self, queue):
        folder = Path(self.data_folder_in)
        claimed = folder / ".claimed"
        suffix = f"{queue}.msg"
        for name in sorted(os.listdir(folder)):
            if name.partition(".")[2] != suffix:
                continue
            mine = claimed / f"{uuid.uuid4()}-{name}"
            try:
                os.rename(folder / name, mine)
            except FileNotFoundError:
                continue  # another consumer claimed it first
            try:
                return loads(bytes_to_str(mine.read_bytes()))
            finally:
                mine.unlink()
        raise Empty()


class FilesystemTransport(filesystem.Transport):
    Channel = Channel

    def __init__(self, client, **kwargs):
        super().__init__(client, **kwargs)
        options = client.transport_options
        for key in ("data_folder_in", "data_folder_out", "control_folder"):
            if options.get(key):
                Path(options[key]).mkdir(parents=True, exist_ok=True)
        if options.get("data_folder_in"):
            (Path(options["data_folder_in"]) / ".claimed").mkdir(exist_ok=True)
