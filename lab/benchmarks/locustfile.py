"""The load ``bench_serving`` drives with locust: each simulated viewer asks, with its own
bearer token, for its feed or, as the reference endpoint, for one video's status.

Set by ``bench_serving``: ``MEDIAREC_BENCH_USERS`` (a JSON file of ``[user_id, token]``),
``MEDIAREC_BENCH_VIDEOS`` (a JSON file of video ids), ``MEDIAREC_BENCH_TARGET``
(``feed`` or ``status``) and ``MEDIAREC_BENCH_LIMIT`` (feed size).
"""

import json
import os
import random
from pathlib import Path

from locust import FastHttpUser, constant, task

USERS = json.loads(Path(os.environ["MEDIAREC_BENCH_USERS"]).read_text())
VIDEO_IDS = json.loads(Path(os.environ["MEDIAREC_BENCH_VIDEOS"]).read_text())
TARGET = os.environ["MEDIAREC_BENCH_TARGET"]
LIMIT = int(os.environ.get("MEDIAREC_BENCH_LIMIT", "20"))


class Viewer(FastHttpUser):
    wait_time = constant(0)

    @task
    def request(self):
        user_id, token = random.choice(USERS)
        headers = {"Authorization": f"Bearer {token}"}
        if TARGET == "feed":
            self.client.get(f"/api/users/{user_id}/recommendations?limit={LIMIT}", headers=headers, name=TARGET)
        else:
            self.client.get(f"/api/videos/{random.choice(VIDEO_IDS)}", headers=headers, name=TARGET)
