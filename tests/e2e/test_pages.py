"""The pages in a real browser (headless Chromium via Playwright) against a
live server: log in, see a feed with reasons, like a video and watch the
next feed change, open similar videos, search."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from django.db import connections
from playwright.sync_api import expect, sync_playwright

from mediarec.caching import caches_clear
from mediarec.models import Interaction, ModelKind, ModelVersion, Video
from tests.factories import UserFactory

pytestmark = pytest.mark.slow  # trains, or starts processes or a browser

DIM = 256
TOPICS = ("cooking", "football", "jazz")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def site(transactional_db, settings, tmp_path):
    """Three topics of eight videos each, and other viewers who make some of them popular."""
    settings.MEDIAREC_DATA_DIR = tmp_path
    rng = np.random.default_rng(0)
    ModelVersion.objects.create(name="standin-e2e", kind=ModelKind.STANDIN, embedding_dim=DIM, is_active=True)
    centres = rng.normal(size=(len(TOPICS), DIM))
    videos = {}
    for t, topic in enumerate(TOPICS):
        for i in range(8):
            v = centres[t] + 0.3 * rng.normal(size=DIM)
            video = Video.objects.create(
                title=f"{topic.title()} clip {i}",
                tags=topic,
                embedding=(v / np.linalg.norm(v)).astype(np.float32),
                embedding_version="standin-e2e",
                status="ready",
            )
            videos[video.pk] = topic
    for n in range(6):
        fan = UserFactory(username=f"fan{n}")
        for pk, topic in videos.items():
            if topic == "football" and pk % 2 == n % 2:
                Interaction.objects.create(user=fan, video_id=pk, kind="like")
    viewer = UserFactory(username="viewer")
    caches_clear()
    yield {"videos": videos, "viewer": viewer}
    caches_clear()


@pytest.fixture
def page(monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the test's own ORM
    # checks are plain synchronous queries, so Django's async guard is lifted.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.set_default_timeout(15_000)
        yield page
        browser.close()
        # ORM calls made while Playwright's loop runs use their own connection; close it.
        connections.close_all()


def log_in(page, live_server, username="viewer"):
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "pw")
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("For you")


def feed_ids(page) -> list[int]:
    return [
        int(x) for x in page.locator("#feed a[data-video-id]").evaluate_all("els => els.map(e => e.dataset.videoId)")
    ]


def test_anonymous_visitor_sees_trending_and_can_log_in(site, live_server, page):
    page.goto(live_server.url)
    expect(page.locator("h1")).to_have_text("Trending now")
    first = feed_ids(page)[0]
    assert site["videos"][first] == "football"  # the popular topic
    expect(page.locator("#feed .why").first).to_have_text("Trending now")
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "viewer")
    page.fill("input[name=password]", "wrong")
    page.click("button[type=submit]")
    expect(page.locator(".error")).to_be_visible()
    log_in(page, live_server)


def test_liking_a_video_changes_the_next_feed(site, live_server, page):
    log_in(page, live_server)
    before = feed_ids(page)
    jazz = next(pk for pk in before if site["videos"][pk] == "jazz")
    page.click(f"#feed a[data-video-id='{jazz}']")
    expect(page.locator("video, .player img, .thumb-placeholder").first).to_be_visible()
    page.click("button[value=like]")
    expect(page.locator(".react .status")).to_contain_text("Liked")
    expect(page.locator("button[value=like]")).to_have_attribute("aria-pressed", "true")
    assert Interaction.objects.filter(user=site["viewer"], video_id=jazz, kind="like").exists()

    page.goto(live_server.url)
    after = feed_ids(page)
    assert after != before
    assert jazz not in after
    top = [site["videos"][pk] for pk in after[:6]]
    assert top.count("jazz") >= 4, top
    expect(page.locator("#feed .why").first).to_contain_text("Jazz clip")  # "Because you watched …"


def test_video_page_shows_why_and_similar_videos(site, live_server, page):
    log_in(page, live_server)
    jazz = next(pk for pk, topic in site["videos"].items() if topic == "jazz")
    Interaction.objects.create(user=site["viewer"], video_id=jazz, kind="like")
    page.goto(live_server.url)
    card = page.locator("#feed li.card").first
    reason = card.locator(".why").inner_text()
    card.locator("a").click()
    expect(page.locator("#why")).to_contain_text(reason)
    similar = page.locator("#similar a[data-video-id]")
    expect(similar.first).to_be_visible()
    assert similar.count() >= 4


def test_search_page(site, live_server, page):
    page.goto(f"{live_server.url}/search/?q=cooking")
    expect(page.locator(".mode")).to_contain_text("Keyword search")
    titles = page.locator("#results .title").all_inner_texts()
    assert titles and all(t.startswith("Cooking") for t in titles)
    page.fill("form.search.big input[name=q]", "nothing-matches-this")
    page.click("form.search.big button")
    expect(page.locator(".empty")).to_contain_text("No videos match")


@pytest.fixture
def served_site(transactional_db, settings):
    """The reference site under gunicorn on the test database: what a browser gets from a
    deployment (the test server's own media handler would bypass the site's media view)."""
    import os
    import socket
    import subprocess
    import sys
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "reference_site.settings",
        "MEDIAREC_DB_NAME": settings.DATABASES["default"]["NAME"],
        "MEDIAREC_MEDIA_ROOT": str(settings.MEDIA_ROOT),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "reference_site.wsgi:application", "-w", "1", "-b", f"127.0.0.1:{port}"],
        env=env,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while True:
        assert server.poll() is None and time.monotonic() < deadline, "gunicorn did not start"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
    yield f"http://127.0.0.1:{port}"
    server.terminate()
    server.wait(30)


def test_an_uploaded_page_never_runs_as_a_page(served_site, page, tmp_path):
    """A valid video with a script appended, uploaded as "p.html": opening its
    address in a browser must not run the script on the site's origin."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from mediarec.services.videos import video_create
    from tests.videos import write_video

    script = b"<html><body><script>document.title='pwned'</script></body></html>"
    data = write_video(tmp_path / "clip.mp4", frames=12).read_bytes() + script
    video = video_create(upload=SimpleUploadedFile("p.html", data), title="polyglot")
    response = page.goto(f"{served_site}{video.file.url}")
    assert response.status == 200
    assert response.headers["content-type"] == "video/mp4"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert page.title() != "pwned"


def test_search_is_semantic_with_an_active_model_and_finds_colour_and_shape(
    transactional_db, settings, tmp_path, live_server, page, world, trained
):
    """A VideoBERT version registered as a site registers one (its checkpoint stored relative
    to the data dir), the catalog embedded by the embedding service, then a browser search:
    the page says "Semantic search" and a colour-and-shape query finds that colour and shape."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from mediarec.services.embedding import embedding_run_batch
    from mediarec.services.model_versions import model_version_register
    from mediarec.services.videos import video_create

    settings.MEDIAREC_DATA_DIR = tmp_path
    version = model_version_register(checkpoint=trained, name="search-e2e", activate=True)
    assert not Path(version.checkpoint_path).is_absolute()
    videos = {}
    for record in world.held_out:
        with open(record["path"], "rb") as fh:
            video = video_create(upload=SimpleUploadedFile("clip.mp4", fh.read()), title=record["text"])
        videos[video.pk] = record["attrs"]
    embedding_run_batch(video_ids=list(videos), window_s=0)
    assert Video.objects.filter(pk__in=list(videos), embedding_version="search-e2e").count() == len(videos)
    caches_clear()

    colour, shape, _ = world.held_out[0]["attrs"]
    page.goto(f"{live_server.url}/search/?q={colour} {shape}")
    expect(page.locator(".mode")).to_contain_text("Semantic search")
    found = [
        int(x) for x in page.locator("#results a[data-video-id]").evaluate_all("els => els.map(e => e.dataset.videoId)")
    ]
    assert found, "semantic search returned nothing"
    top = [videos[pk][:2] for pk in found[:3]]
    assert all(c == colour for c, _ in top), (colour, shape, top)  # the top 3 are all of that colour
    assert (colour, shape) in top, (colour, shape, top)  # and one of them of that shape too


def test_generated_words_in_the_admin_and_on_the_pages(
    transactional_db, settings, tmp_path, live_server, page, world, trained
):
    """An untitled upload embedded by the embedding service with a model that generates: the admin's video
    page shows its suggested tags with scores and its caption, the list shows them, and the public page
    shows the caption in place of the file name, marked as generated. Screenshots go to
    ``$MEDIAREC_SCREENSHOTS`` when it is set."""
    import os

    from django.core.files.uploadedfile import SimpleUploadedFile

    from mediarec.services.embedding import embedding_run_batch
    from mediarec.services.model_versions import model_version_register
    from mediarec.services.videos import video_create

    settings.MEDIAREC_DATA_DIR = tmp_path
    model_version_register(
        checkpoint=trained, name="generate-e2e", activate=True, texts=[r["text"] for r in world.train]
    )
    with open(world.held_out[0]["path"], "rb") as fh:
        video = video_create(upload=SimpleUploadedFile("clip_0007.mp4", fh.read()), title="")
    embedding_run_batch(video_ids=[video.pk], window_s=0)
    video.refresh_from_db()
    assert video.generated_version == "generate-e2e" and video.caption and video.title == "clip_0007"
    UserFactory(username="boss", is_staff=True, is_superuser=True)
    shots = Path(os.environ.get("MEDIAREC_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    caches_clear()

    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("input[name=username]", "boss")
    page.fill("input[name=password]", "pw")
    page.click("input[type=submit]")
    page.goto(f"{live_server.url}/admin/mediarec/video/{video.pk}/change/")
    best = video.suggested_tags[0]
    tags_row = page.locator(".field-suggested_tags_scored")
    expect(tags_row).to_contain_text(f"{best['tag']} ({best['score']:.2f})")
    expect(tags_row.locator(".generated")).to_have_text("generated")
    expect(page.locator(".field-caption_generated")).to_contain_text(video.caption)
    page.locator(".field-suggested_tags_scored").scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "admin-video-suggested.png"), full_page=True)

    page.goto(f"{live_server.url}/admin/mediarec/video/?own_text=no")
    expect(page.locator("td.field-suggested")).to_contain_text(video.caption)
    page.screenshot(path=str(shots / "admin-video-list.png"))

    page.goto(f"{live_server.url}/videos/{video.pk}/")
    expect(page.locator("h1")).to_contain_text(video.caption)
    expect(page.locator("h1 .generated")).to_have_text("generated")
    expect(page.locator(".tags.suggested")).to_contain_text(f"#{best['tag']}")
    assert "clip_0007" not in page.locator("h1").inner_text()
    page.screenshot(path=str(shots / "video-page-generated.png"))
