"""Thin page views: parse the request, call a selector or service, render."""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from mediarec.conf import app_settings
from mediarec.errors import InvalidQuery, MediarecError
from mediarec.models import Interaction, Video
from mediarec.recommender.blend import explanation
from mediarec.selectors import video_for_media, video_list_visible
from mediarec.services.interactions import interaction_record, interaction_record_view
from mediarec.services.media_probe import MEDIA_TYPES
from mediarec.serving.feeds import recommendations_for_user, videos_search, videos_similar

FEED_SIZE = 24
REACTIONS = ("like", "dislike")


def home(request: HttpRequest) -> HttpResponse:
    feed = recommendations_for_user(user=request.user, limit=FEED_SIZE)
    return render(request, "mediarec/home.html", {"feed": feed})


def _visible(request: HttpRequest, pk: int) -> Video:
    return get_object_or_404(video_list_visible(user=request.user), pk=pk)


def media_file(request: HttpRequest, path: str) -> HttpResponse:
    """An uploaded video or thumbnail, only for those who may see its video (published:
    everyone; unpublished: its uploader and staff), always with a media type of its
    own and ``nosniff``. Any other path under the media folder is not served."""
    video = video_for_media(name=path, user=request.user)
    if video is None:
        raise Http404("no such media file")
    stored = video.file if video.file.name == path else video.thumbnail
    content_type = MEDIA_TYPES.get(Path(path).suffix.lower(), "application/octet-stream")
    if app_settings.MEDIA_ACCEL_REDIRECT:
        response = HttpResponse(content_type=content_type)
        response["X-Accel-Redirect"] = app_settings.MEDIA_ACCEL_REDIRECT.rstrip("/") + "/" + stored.name
    else:
        try:
            response = FileResponse(stored.open("rb"), content_type=content_type)
        except FileNotFoundError as exc:
            raise Http404("media file missing") from exc
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Disposition"] = "inline"
    if not video.published:
        response["Cache-Control"] = "private, no-store"
    return response


def _why(request: HttpRequest, video: Video) -> str | None:
    """The feed's reason for this video, when the user came from the feed."""
    reason = request.GET.get("reason")
    if reason not in {"cf", "content", "trending", "fresh"}:
        return None
    because_title = None
    because = request.GET.get("because", "")
    # ASCII digits only ("²".isdigit() is true; int() refuses it), and within a bigint.
    if because.isascii() and because.isdigit() and len(because) <= 18 and request.user.is_authenticated:
        # Only name a video the user really interacted with.
        seen = Interaction.objects.filter(user=request.user, video_id=int(because)).select_related("video").first()
        if seen:
            video = seen.video
            because_title = f"{video.shown_title} (generated)" if video.title_generated else video.title
    return explanation(reason, because_title)


def video_detail(request: HttpRequest, pk: int) -> HttpResponse:
    video = _visible(request, pk)
    reaction = None
    if request.user.is_authenticated:
        interaction_record_view(user=request.user, video_id=video.pk)
        reaction = (
            Interaction.objects.filter(user=request.user, video=video, kind__in=REACTIONS)
            .values_list("kind", flat=True)
            .first()
        )
    context = {
        "video": video,
        "similar": videos_similar(video=video, limit=8),
        "why": _why(request, video),
        "reaction": reaction,
    }
    return render(request, "mediarec/video_detail.html", context)


@require_POST
@login_required
def video_react(request: HttpRequest, pk: int) -> HttpResponse:
    """Like or dislike; answers JSON to the page's script, or redirects back without it."""
    video = _visible(request, pk)
    kind = request.POST.get("kind", "")
    if kind not in REACTIONS:
        return JsonResponse({"detail": f"kind must be one of {', '.join(REACTIONS)}."}, status=400)
    try:
        interaction_record(user=request.user, video_id=video.pk, kind=kind)
    except MediarecError as exc:
        return JsonResponse({"detail": str(exc)}, status=400)
    if request.headers.get("Accept") == "application/json":
        return JsonResponse({"video_id": video.pk, "reaction": kind})
    return redirect("mediarec:video-detail", pk=video.pk)


def search(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:200]
    try:
        results = videos_search(query=query, limit=24) if query else None
    except InvalidQuery as exc:
        context = {"query": query.replace("\x00", ""), "results": None, "error": str(exc)}
        return render(request, "mediarec/search.html", context, status=400)
    return render(request, "mediarec/search.html", {"query": query, "results": results})
