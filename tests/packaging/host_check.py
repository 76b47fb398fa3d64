"""Run by ``test_wheel.py`` with the fresh virtualenv's Python, inside the host
project: upload a generated video through the API, then render the feed page.
Prints one JSON line of what it saw."""

import json
import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "host.settings")
django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.files.uploadedfile import SimpleUploadedFile  # noqa: E402
from django.template.loader import get_template  # noqa: E402
from django.test import Client  # noqa: E402

import mediarec  # noqa: E402
from mediarec.models import Video  # noqa: E402

video_path = sys.argv[1]
get_user_model().objects.create_user("host-viewer", password="pw-host-viewer")
client = Client()
token = client.post("/api/token", {"username": "host-viewer", "password": "pw-host-viewer"}, "application/json")
auth = {"HTTP_AUTHORIZATION": f"Bearer {token.json()['token']}"}
with open(video_path, "rb") as fh:
    upload = SimpleUploadedFile("clip.mp4", fh.read(), content_type="video/mp4")
created = client.post("/api/videos", {"file": upload, "title": "A red square"}, **auth)
client.force_login(get_user_model().objects.get(username="host-viewer"))
home = client.get("/")
video = Video.objects.get()
print(
    json.dumps(
        {
            "mediarec_file": mediarec.__file__,
            "upload_status": created.status_code,
            "upload": created.json(),
            "video_file_exists": os.path.isfile(video.file.path),
            "home_status": home.status_code,
            "home_template": get_template("mediarec/home.html").origin.name,
            "home_for_you": "<h1>For you</h1>" in home.content.decode(),
        }
    )
)
