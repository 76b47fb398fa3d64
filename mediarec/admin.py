"""Catalog management in the Django admin. Thin: forms validate through the
upload probe, and every write goes through ``mediarec.services``."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from mediarec.admin_paginator import EstimatedCountPaginator
from mediarec.errors import InvalidUpload
from mediarec.models import CFModelVersion, Interaction, ModelVersion, RankerVersion, Video, VideoStatus
from mediarec.selectors import NO_OWN_TEXT, video_list_without_own_text
from mediarec.services.embedding import embeddings_queue_stale
from mediarec.services.model_versions import model_version_activate
from mediarec.services.videos import (
    TEXT_FIELDS,
    upload_probe,
    video_create,
    video_replace_file,
    video_update,
    videos_accept_suggested_tags,
    videos_queue_embedding,
    videos_set_published,
)


class VideoForm(forms.ModelForm):
    """Upload and edit form; a file that is not a usable video is a form error."""

    class Meta:
        model = Video
        fields = ["title", "description", "tags", "transcript", "published", "file"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["file"].required = self.instance.pk is None
        self.fields["title"].required = False
        self.fields["tags"].help_text = "Comma-separated."

    def clean_file(self):
        upload = self.cleaned_data.get("file")
        if upload is None or "file" not in self.changed_data:
            return upload
        try:
            upload_probe(upload=upload)
        except InvalidUpload as exc:
            raise forms.ValidationError(str(exc)) from exc
        return upload


class ModelVersionFilter(admin.SimpleListFilter):
    """Lists registered versions instead of a DISTINCT over the whole catalog."""

    title = "embedding model version"
    parameter_name = "embedding_version"

    def lookups(self, request, model_admin):
        return [("", "none")] + [(v, v) for v in ModelVersion.objects.values_list("name", flat=True)]

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        return queryset.filter(embedding_version=self.value())


class OwnTextFilter(admin.SimpleListFilter):
    title = "text of its own"
    parameter_name = "own_text"

    def lookups(self, request, model_admin):
        return [("yes", "has text"), ("no", "none (generated words only)")]

    def queryset(self, request, queryset):
        if self.value() == "no":
            return video_list_without_own_text(videos=queryset)
        if self.value() == "yes":
            return queryset.exclude(NO_OWN_TEXT)
        return queryset


# Styled inline: the admin does not load the site's stylesheet.
GENERATED_BADGE = mark_safe(
    '<span class="generated" title="generated from the pixels" style="font-size:.75em;border:1px solid;'
    'border-radius:3px;padding:0 .3em;margin-right:.4em;opacity:.7">generated</span>'
)


@admin.register(Video)
class VideoAdmin(admin.ModelAdmin):
    form = VideoForm
    list_display = [
        "thumbnail_img",
        "title",
        "suggested",
        "status",
        "published",
        "embedding_version",
        "interaction_count",
        "problem",
        "created_at",
    ]
    list_display_links = ["thumbnail_img", "title"]
    list_filter = ["status", "published", OwnTextFilter, ModelVersionFilter]
    search_fields = ["title", "description", "tags"]
    list_per_page = 50
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    actions = ["publish", "unpublish", "reembed", "accept_suggested_tags"]
    PIPELINE_FIELDS = (
        "status", "error_message", "attempts", "duration_s", "fps", "width", "height", "size_bytes", "codec",
        "embedding_version", "embedded_at", "channel", "created_at", "updated_at",
    )  # fmt: skip
    fieldsets = [
        (None, {"fields": ["title", "description", "tags", "transcript", "published", "file", "thumbnail_img"]}),
        ("Generated from the pixels", {"fields": ["caption_generated", "suggested_tags_scored", "generated_version"]}),
        ("Pipeline", {"fields": PIPELINE_FIELDS}),
    ]
    readonly_fields = [
        "thumbnail_img",
        "status",
        "error_message",
        "attempts",
        "duration_s",
        "fps",
        "width",
        "height",
        "size_bytes",
        "codec",
        "embedding_version",
        "embedded_at",
        "suggested_tags_scored",
        "caption_generated",
        "generated_version",
        "channel",
        "created_at",
        "updated_at",
    ]

    def get_queryset(self, request):
        counts = (
            Interaction.objects.filter(video=OuterRef("pk"))
            .order_by()
            .values("video")
            .annotate(n=Count("pk"))
            .values("n")
        )
        return (
            super()
            .get_queryset(request)
            .defer("embedding", "transcript")
            .annotate(n_interactions=Subquery(counts, output_field=IntegerField()))
        )

    @admin.display(description="thumbnail")
    def thumbnail_img(self, obj: Video):
        if not obj.thumbnail:
            return "—"
        return format_html('<img src="{}" alt="" style="height:48px;border-radius:4px">', obj.thumbnail.url)

    # Not sortable: ordering by a per-row count would scan every interaction.
    @admin.display(description="interactions")
    def interaction_count(self, obj: Video) -> int:
        return obj.n_interactions or 0

    @admin.display(description="suggested (generated)")
    def suggested(self, obj: Video) -> str:
        if not obj.generated_version:
            return "—"
        tags = ", ".join(obj.suggested_tag_list[:5])
        return format_html("{} <em>{}</em><br><small>{}</small>", GENERATED_BADGE, obj.caption, tags)

    @admin.display(description="suggested tags")
    def suggested_tags_scored(self, obj: Video) -> str:
        if not obj.generated_version:
            return "— (not generated yet)"
        items = ", ".join(f"{t['tag']} ({t['score']:.2f})" for t in obj.suggested_tags)
        return format_html("{} {}", GENERATED_BADGE, items)

    @admin.display(description="caption")
    def caption_generated(self, obj: Video) -> str:
        if not obj.generated_version:
            return "— (not generated yet)"
        return format_html("{} <em>{}</em>", GENERATED_BADGE, obj.caption)

    @admin.display(description="failure reason")
    def problem(self, obj: Video) -> str:
        if obj.status != VideoStatus.FAILED:
            return ""
        return f"{obj.error_message} (after {obj.attempts} attempt{'s' if obj.attempts != 1 else ''})"

    def save_model(self, request, obj, form, change):
        if not change:
            created = video_create(
                upload=form.cleaned_data["file"],
                title=form.cleaned_data["title"],
                description=form.cleaned_data["description"],
                tags=form.cleaned_data["tags"],
                transcript=form.cleaned_data["transcript"],
                published=form.cleaned_data["published"],
                uploader=request.user,
            )
            obj.pk = created.pk
            obj._state.adding = False
            return
        video = Video.objects.get(pk=obj.pk)
        changed = {f: form.cleaned_data[f] for f in form.changed_data if f in (*TEXT_FIELDS, "published")}
        if changed:
            video_update(video=video, **changed)
        if "file" in form.changed_data:
            video_replace_file(video=video, upload=form.cleaned_data["file"])

    @admin.action(description="Publish selected videos")
    def publish(self, request, queryset):
        n = videos_set_published(video_ids=queryset.values_list("pk", flat=True), published=True)
        self.message_user(request, f"Published {n} video(s).", messages.SUCCESS)

    @admin.action(description="Unpublish selected videos")
    def unpublish(self, request, queryset):
        n = videos_set_published(video_ids=queryset.values_list("pk", flat=True), published=False)
        self.message_user(request, f"Unpublished {n} video(s).", messages.SUCCESS)

    @admin.action(description="Accept the suggested tags (the best 5) into the videos' tags")
    def accept_suggested_tags(self, request, queryset):
        n = videos_accept_suggested_tags(video_ids=queryset.values_list("pk", flat=True))
        self.message_user(request, f"Added suggested tags to {n} video(s).", messages.SUCCESS)

    @admin.action(description="Re-embed selected videos")
    def reembed(self, request, queryset):
        n = videos_queue_embedding(video_ids=queryset.values_list("pk", flat=True))
        self.message_user(request, f"Queued {n} video(s) for embedding.", messages.SUCCESS)


@admin.register(Interaction)
class InteractionAdmin(admin.ModelAdmin):
    """Read-mostly: interactions arrive through the API; admins inspect or delete."""

    list_display = ["created_at", "user", "video", "kind", "value", "client_event_id"]
    list_filter = ["kind"]
    list_select_related = ["user", "video"]
    raw_id_fields = ["user", "video"]
    search_fields = ["=user__id", "=video__id", "client_event_id"]
    list_per_page = 100
    show_full_result_count = False
    paginator = EstimatedCountPaginator

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).defer("video__embedding", "video__transcript")


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "embedding_dim", "is_active", "created_at", "activated_at"]
    list_filter = ["kind", "is_active"]
    readonly_fields = ["name", "kind", "checkpoint_path", "embedding_dim", "is_active", "metrics", "created_at"]
    actions = ["activate", "reembed_stale"]

    @admin.action(description="Activate (re-embeds the catalog in the background)")
    def activate(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version to activate.", messages.ERROR)
            return
        version = model_version_activate(version=queryset.get())
        self.message_user(
            request,
            f"{version.name} is active; stale videos are being re-embedded in the background.",
            messages.SUCCESS,
        )

    @admin.action(description="Re-embed videos not on the active version")
    def reembed_stale(self, request, queryset):
        n = embeddings_queue_stale(only_when_idle=False)
        self.message_user(request, f"Queued {n} video(s) for re-embedding.", messages.SUCCESS)


@admin.register(CFModelVersion)
class CFModelVersionAdmin(admin.ModelAdmin):
    list_display = ["name", "n_users", "n_items", "n_interactions", "fit_seconds", "is_active", "created_at"]
    readonly_fields = ["name", "path", "params", "n_users", "n_items", "n_interactions", "fit_seconds", "created_at"]


@admin.register(RankerVersion)
class RankerVersionAdmin(admin.ModelAdmin):
    list_display = ["name", "cf_model", "n_cold_items", "fit_seconds", "is_active", "created_at"]
    readonly_fields = ["name", "path", "cf_model", "params", "training", "n_cold_items", "fit_seconds", "created_at"]
