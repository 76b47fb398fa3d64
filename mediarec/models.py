"""The catalog (videos), what users do with it (interactions), and the model
versions that produced its embeddings and CF factors. Models only declare;
the logic lives in ``mediarec.services`` and ``mediarec.selectors``."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.indexes import OpClass
from django.db import models
from django.db.models import Q
from django.db.models.functions import Cast
from django.utils import timezone
from pgvector.django import HalfVectorField, HnswIndex, VectorField

from mediarec.conf import app_settings

EMBEDDING_DIM = app_settings.EMBEDDING_DIM


class VideoStatus(models.TextChoices):
    UPLOADED = "uploaded", "Uploaded"
    QUEUED = "queued", "Queued"
    EMBEDDING = "embedding", "Embedding"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class Video(models.Model):
    title = models.CharField(max_length=300)
    # Set when the uploader gave no title and the file's name stands in: not text of the video's own.
    title_is_file_name = models.BooleanField(default=False)
    description = models.TextField(blank=True)
    # Comma-separated, lower-case; see ``Video.tag_list``.
    tags = models.CharField(max_length=1000, blank=True)
    transcript = models.TextField(blank=True)

    file = models.FileField(upload_to="videos/%Y/%m/", blank=True)
    thumbnail = models.ImageField(upload_to="thumbnails/%Y/%m/", blank=True)
    duration_s = models.FloatField(null=True, blank=True)
    fps = models.FloatField(null=True, blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    size_bytes = models.BigIntegerField(null=True, blank=True)
    codec = models.CharField(max_length=32, blank=True)

    published = models.BooleanField(default=True)
    uploader = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    channel = models.CharField(max_length=64, blank=True)  # the uploader's channel or topic

    status = models.CharField(max_length=16, choices=VideoStatus.choices, default=VideoStatus.UPLOADED)
    status_changed_at = models.DateTimeField(default=timezone.now)
    error_message = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)

    embedding = VectorField(dimensions=EMBEDDING_DIM, null=True, blank=True)
    embedding_version = models.CharField(max_length=64, blank=True)
    embedded_at = models.DateTimeField(null=True, blank=True)

    # Generated from the pixels by ``generated_version`` (the embedding batch writes them with the vector):
    # [{"tag": str, "score": float}], best first, and a caption of a few words.
    suggested_tags = models.JSONField(default=list, blank=True)
    caption = models.CharField(max_length=300, blank=True)
    generated_version = models.CharField(max_length=64, blank=True)

    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=[s.value for s in VideoStatus]), name="video_status_valid"),
            models.CheckConstraint(
                condition=Q(status="ready", embedding__isnull=False) | ~Q(status="ready"),
                name="video_ready_has_embedding",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "published"], name="video_status_pub_idx"),
            models.Index(fields=["-created_at"], name="video_created_idx"),
            models.Index(fields=["embedding_version"], name="video_emb_version_idx"),
            models.Index(fields=["channel"], name="video_channel_idx"),
            # Half precision: half the index, a cheaper scan, the same recall (docs/BENCHMARKS.md).
            # The serving query orders by the same cast (serving/queries.py) and reads
            # its similarities from the full-precision column.
            HnswIndex(
                OpClass(Cast("embedding", HalfVectorField(dimensions=EMBEDDING_DIM)), name="halfvec_cosine_ops"),
                name="video_embedding_half_hnsw",
                m=16,
                ef_construction=64,
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def tag_list(self) -> list[str]:
        return [t.strip() for t in self.tags.split(",") if t.strip()]

    @property
    def own_title(self) -> str:
        return "" if self.title_is_file_name else self.title

    @property
    def has_own_text(self) -> bool:
        """Did anyone write about this video (a file name is not writing)?"""
        return bool(self.own_title.strip() or self.description.strip() or self.tags.strip() or self.transcript.strip())

    @property
    def text(self) -> str:
        """All the text of its own the engine reads, in a fixed order ("" when it has none)."""
        parts = (self.own_title, self.description, " ".join(self.tag_list), self.transcript)
        return " . ".join(p for p in parts if p)

    @property
    def shown_title(self) -> str:
        """The title pages show: the generated caption in place of a file name (see ``title_generated``)."""
        return self.caption if self.title_generated else self.title

    @property
    def title_generated(self) -> bool:
        return self.title_is_file_name and bool(self.caption)

    @property
    def suggested_tag_list(self) -> list[str]:
        return [t["tag"] for t in self.suggested_tags]


class InteractionKind(models.TextChoices):
    VIEW = "view", "View"
    COMPLETE = "complete", "Complete"
    LIKE = "like", "Like"
    SHARE = "share", "Share"
    DISLIKE = "dislike", "Dislike"


class Interaction(models.Model):
    # ``kind`` is not limited to InteractionKind at the database level so a
    # site can add kinds through MEDIAREC_INTERACTION_WEIGHTS.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    video = models.ForeignKey(Video, on_delete=models.CASCADE, related_name="interactions")
    kind = models.CharField(max_length=32)
    value = models.FloatField(default=0.0)
    created_at = models.DateTimeField(default=timezone.now)
    client_event_id = models.CharField(max_length=128, null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "client_event_id"],
                condition=Q(client_event_id__isnull=False),
                name="interaction_event_unique_per_user",
            ),
        ]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="interaction_user_time_idx"),
            models.Index(fields=["video", "-created_at"], name="interaction_video_time_idx"),
            models.Index(fields=["-created_at"], name="interaction_time_idx"),
            models.Index(fields=["kind"], name="interaction_kind_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.kind} {self.video_id}"


class ModelKind(models.TextChoices):
    VIDEOBERT = "videobert", "VideoBERT checkpoint"
    STANDIN = "standin", "Synthetic stand-in (from world attributes)"


class ModelVersion(models.Model):
    """A registered embedding model. Exactly one is active at a time; vectors
    are only ever compared with vectors of the same version."""

    name = models.CharField(max_length=64, unique=True)
    kind = models.CharField(max_length=16, choices=ModelKind.choices, default=ModelKind.VIDEOBERT)
    checkpoint_path = models.CharField(max_length=500, blank=True)
    embedding_dim = models.PositiveIntegerField()
    is_active = models.BooleanField(default=False)
    metrics = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    activated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["is_active"], condition=Q(is_active=True), name="one_active_model"),
        ]

    def __str__(self) -> str:
        return self.name


class CFModelVersion(models.Model):
    """A fitted collaborative-filtering model; its factors live on disk."""

    name = models.CharField(max_length=64, unique=True)
    path = models.CharField(max_length=500)
    params = models.JSONField(default=dict, blank=True)
    n_users = models.PositiveIntegerField(default=0)
    n_items = models.PositiveIntegerField(default=0)
    n_interactions = models.BigIntegerField(default=0)
    fit_seconds = models.FloatField(default=0.0)
    is_active = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["is_active"], condition=Q(is_active=True), name="one_active_cf_model"),
        ]

    def __str__(self) -> str:
        return self.name


class RankerVersion(models.Model):
    """A fitted learned ranker (``recommender/ranker.py``) and the cold map it scores new items
    with; its file lives on disk. Its features are read off one CF model's factors, so it
    serves only while that CF model is the active one."""

    name = models.CharField(max_length=64, unique=True)
    path = models.CharField(max_length=500)
    cf_model = models.ForeignKey(CFModelVersion, on_delete=models.CASCADE, related_name="rankers")
    params = models.JSONField(default=dict, blank=True)
    training = models.JSONField(default=dict, blank=True)  # users, rows, positives, validation nDCG@10
    n_cold_items = models.PositiveIntegerField(default=0)
    fit_seconds = models.FloatField(default=0.0)
    is_active = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["is_active"], condition=Q(is_active=True), name="one_active_ranker"),
        ]

    def __str__(self) -> str:
        return self.name
