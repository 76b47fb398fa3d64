"""The lab's tables: what the synthetic world knows about the videos it loaded.

The plugin's ``Video`` holds what any platform has; the ground truth a world
rendered into a video (its attributes, its index in the world) lives here, so
a host site without the lab has no column for it.
"""

from __future__ import annotations

from django.db import models


class VideoTruth(models.Model):
    video = models.OneToOneField("mediarec.Video", on_delete=models.CASCADE, primary_key=True, related_name="truth")
    world_index = models.PositiveIntegerField(unique=True)
    # The rendered attributes (colour, shape, motion, ...) and the world's own facts (seed, upload day, appeal).
    attributes = models.JSONField()

    def __str__(self) -> str:
        return f"world video {self.world_index}"
