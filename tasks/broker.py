"""The broker used when no ``CELERY_BROKER_URL`` is set: kombu's filesystem transport, made safe to read.

kombu's filesystem channel creates a message file and only then locks and fills it, so a worker polling the
folder can open it in between, read nothing, and die on the empty JSON. Here a message is written under a name
the readers do not match and renamed into place, which is atomic on one file system.
"""

from __future__ import annotations

import os
import uuid

from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        name = f"{round(filesystem.monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = os.path.join(self.data_folder_out, f".{name}.partial")  # readers list "*.<queue>.msg" only
        try:
            with open(partial, "wb") as f:
                f.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            raise filesystem.ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
