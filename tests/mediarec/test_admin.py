"""Admin smoke tests: changelist with thumbnails and counts, search, filters,
upload through the admin form, a refused bad file, and the bulk actions."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from mediarec.models import Video, VideoStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, django_user_model):
    admin = django_user_model.objects.create_superuser("admin", "admin@example.com", "pw")
    client.force_login(admin)
    return client


def test_upload_in_admin_lists_video_queued_with_thumbnail(staff_client, mp4_file):
    response = staff_client.post(
        reverse("admin:mediarec_video_add"),
        {
            "title": "Bouncing square",
            "description": "A white square moves right.",
            "tags": "square, motion",
            "transcript": "",
            "published": "on",
            "file": SimpleUploadedFile("square.mp4", mp4_file.read_bytes()),
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    video = Video.objects.get()
    assert video.status == VideoStatus.QUEUED
    page = staff_client.get(reverse("admin:mediarec_video_changelist")).content.decode()
    assert "Bouncing square" in page
    assert video.thumbnail.url in page
    assert ">Queued<" in page or "Queued" in page


def test_bad_file_in_admin_is_a_form_error(staff_client, tmp_path):
    response = staff_client.post(
        reverse("admin:mediarec_video_add"),
        {"title": "x", "tags": "", "file": SimpleUploadedFile("fake.mp4", b"not a video at all" * 50)},
    )
    assert response.status_code == 200
    assert "is not a readable video file" in response.content.decode()
    assert Video.objects.count() == 0


def test_search_filters_and_interaction_counts(staff_client, video_factory, interaction_factory):
    cat = video_factory(title="Orange cat", tags="cats")
    video_factory(title="Blue ocean", tags="sea")
    for _ in range(3):
        interaction_factory(video=cat)
    url = reverse("admin:mediarec_video_changelist")
    page = staff_client.get(url, {"q": "cats"}).content.decode()
    assert "Orange cat" in page and "Blue ocean" not in page
    response = staff_client.get(url, {"status__exact": "uploaded", "published__exact": "1"})
    assert response.status_code == 200
    counts = {v.title: v.n_interactions for v in response.context["cl"].result_list}
    assert counts == {"Orange cat": 3, "Blue ocean": None}


def test_changelist_query_count_does_not_grow_with_rows(staff_client, video_factory, django_assert_max_num_queries):
    video_factory.create_batch(30)
    url = reverse("admin:mediarec_video_changelist")
    with django_assert_max_num_queries(12):
        assert staff_client.get(url).status_code == 200


def test_bulk_actions(staff_client, video_factory, django_capture_on_commit_callbacks):
    videos = video_factory.create_batch(2)
    url = reverse("admin:mediarec_video_changelist")
    ids = [str(v.pk) for v in videos]
    staff_client.post(url, {"action": "unpublish", "_selected_action": ids})
    assert not Video.objects.filter(published=True).exists()
    staff_client.post(url, {"action": "publish", "_selected_action": ids})
    assert Video.objects.filter(published=True).count() == 2
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        staff_client.post(url, {"action": "reembed", "_selected_action": ids})
    assert len(callbacks) == 1
    assert set(Video.objects.values_list("status", flat=True)) == {VideoStatus.QUEUED}


def test_failed_video_shows_readable_reason(staff_client, video_factory):
    video_factory(title="Broken", status=VideoStatus.FAILED, error_message="no video stream", attempts=1)
    page = staff_client.get(reverse("admin:mediarec_video_changelist")).content.decode()
    assert "no video stream (after 1 attempt)" in page


def test_interaction_admin_is_read_mostly(staff_client, interaction_factory):
    interaction = interaction_factory(kind="like")
    assert staff_client.get(reverse("admin:mediarec_interaction_changelist"), {"kind": "like"}).status_code == 200
    assert staff_client.get(reverse("admin:mediarec_interaction_add")).status_code == 403
    change = staff_client.get(reverse("admin:mediarec_interaction_change", args=[interaction.pk]))
    assert change.status_code == 200
    assert 'name="_save"' not in change.content.decode()


SUGGESTED = [{"tag": "crimson", "score": 0.31}, {"tag": "ball", "score": 0.2}, {"tag": "bouncing", "score": 0.1},
             {"tag": "demo", "score": 0.05}, {"tag": "fast", "score": 0.04}, {"tag": "sixth", "score": 0.01}]  # fmt: skip


def test_suggested_tags_and_caption_are_shown_marked_generated(staff_client, video_factory):
    video = video_factory(
        title="Ball", suggested_tags=SUGGESTED, caption="crimson ball bouncing", generated_version="v1"
    )
    video_factory(title="Not yet")
    page = staff_client.get(reverse("admin:mediarec_video_changelist")).content.decode()
    assert "<em>crimson ball bouncing</em>" in page and "crimson, ball, bouncing, demo, fast" in page
    assert page.count('class="generated"') == 1  # the one generated row; the other has none yet
    change = staff_client.get(reverse("admin:mediarec_video_change", args=[video.pk])).content.decode()
    assert "crimson (0.31), ball (0.20)" in change and "sixth (0.01)" in change
    assert "<em>crimson ball bouncing</em>" in change and 'class="generated"' in change


def test_filter_lists_videos_without_text_of_their_own(staff_client, video_factory):
    video_factory(title="clip_0042", title_is_file_name=True, description="", tags="")
    video_factory(title="clip_0043", title_is_file_name=True, description="", tags="cats")
    video_factory(title="Written", description="", tags="")
    url = reverse("admin:mediarec_video_changelist")
    listed = lambda **q: {v.title for v in staff_client.get(url, q).context["cl"].result_list}  # noqa: E731
    assert listed(own_text="no") == {"clip_0042"}
    assert listed(own_text="yes") == {"clip_0043", "Written"}


def test_accept_action_adds_the_best_five_suggested_tags(
    staff_client, video_factory, django_capture_on_commit_callbacks
):
    video = video_factory(title="Ball", tags="demo", suggested_tags=SUGGESTED, generated_version="v1")
    untouched = video_factory(title="Nothing suggested", tags="cats")
    url = reverse("admin:mediarec_video_changelist")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = staff_client.post(
            url, {"action": "accept_suggested_tags", "_selected_action": [video.pk, untouched.pk]}, follow=True
        )
    assert "Added suggested tags to 1 video(s)." in response.content.decode()
    video.refresh_from_db()
    untouched.refresh_from_db()
    assert video.tags == "demo,crimson,ball,bouncing,fast"  # its own first, no duplicate, not the sixth
    assert untouched.tags == "cats" and untouched.status == VideoStatus.UPLOADED
    assert video.status == VideoStatus.QUEUED and len(callbacks) == 1  # the new text is embedded again
