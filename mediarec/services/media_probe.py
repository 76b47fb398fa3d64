"""Probe an uploaded file with PyAV: is there a decodable video stream, and
what are its duration, frame rate and size? Also grabs a thumbnail frame.

The container's header is not trusted on its own: a file cut short behind an
intact index (an MP4 with ``moov`` first) still claims its full duration, so
the last seconds are demuxed to see that the data is there; a stream that
declares no duration (a live-written WebM) is measured by demuxing it; a
cover picture of an audio file (``attached_pic``) is not a video."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import av

from mediarec.conf import app_settings
from mediarec.errors import InvalidUpload
from mediarec.uploads import size_text

THUMBNAIL_WIDTH = 320
# A file whose packets end earlier than its header says by more than this is truncated.
TRUNCATION_TOLERANCE_S = 1.0
TRUNCATION_TOLERANCE_FRACTION = 0.1
TAIL_S = 3.0  # how much of the end is demuxed to find where the data really ends
# The stored file's extension comes from the probed container, never from the
# client's file name, and each has a video media type (MEDIA_TYPES): a file
# named "p.html" that holds a video is stored and served as a video.
CONTAINER_EXTENSIONS = {
    "mov,mp4,m4a,3gp,3g2,mj2": ".mp4",
    "matroska,webm": ".mkv",  # ".webm" when the codec is one WebM allows (below)
    "avi": ".avi",
    "mpegts": ".m2ts",
    "ogg": ".ogv",
    "flv": ".flv",
    "mpeg": ".mpg",
    "asf": ".wmv",
}
WEBM_CODECS = {"vp8", "vp9", "av1"}
MEDIA_TYPES = {
    ".mp4": "video/mp4",
    ".webm": "video/webm",
    ".mkv": "video/x-matroska",
    ".avi": "video/x-msvideo",
    ".m2ts": "video/mp2t",
    ".ogv": "video/ogg",
    ".flv": "video/x-flv",
    ".mpg": "video/mpeg",
    ".wmv": "video/x-ms-wmv",
    ".jpg": "image/jpeg",  # thumbnails
}


@dataclass(frozen=True)
class ProbeResult:
    duration_s: float
    fps: float
    width: int
    height: int
    size_bytes: int
    codec: str
    extension: str  # of the stored file, from the container (CONTAINER_EXTENSIONS)
    thumbnail_jpeg: bytes


def probe_video_file(path: Path, *, original_name: str = "") -> ProbeResult:
    """Return the probed facts of ``path`` or raise :class:`InvalidUpload`."""
    name = original_name or path.name
    size = path.stat().st_size
    if size == 0:
        raise InvalidUpload(f"{name!r} is empty (0 bytes).")
    if size > app_settings.MAX_UPLOAD_BYTES:
        raise InvalidUpload(f"{name!r} is {size_text(size)}; the limit is {size_text(app_settings.MAX_UPLOAD_BYTES)}.")
    try:
        container = av.open(str(path), timeout=10.0)
    except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise InvalidUpload(f"{name!r} is not a readable video file ({exc.__class__.__name__}).") from exc
    with container:
        if not container.streams.video:
            raise InvalidUpload(f"{name!r} has no video stream (audio-only or not a video).")
        extension = CONTAINER_EXTENSIONS.get(container.format.name)
        if extension is None:
            raise InvalidUpload(
                f"{name!r} is a {container.format.long_name or container.format.name} file, not a video container."
            )
        stream = container.streams.video[0]
        if stream.disposition & av.stream.Disposition.attached_pic:
            raise InvalidUpload(f"{name!r} is audio with a still picture (cover art), not a video.")
        codec = stream.codec_context.name or ""
        if extension == ".mkv" and codec in WEBM_CODECS:
            extension = ".webm"
        width, height = stream.codec_context.width, stream.codec_context.height
        if not width or not height:
            raise InvalidUpload(f"{name!r} has a video stream with no frame size.")
        if width > app_settings.MAX_WIDTH or height > app_settings.MAX_HEIGHT:
            raise InvalidUpload(
                f"{name!r} is {width}x{height}; the limit is {app_settings.MAX_WIDTH}x{app_settings.MAX_HEIGHT}."
            )
        if width < app_settings.MIN_WIDTH or height < app_settings.MIN_HEIGHT:
            raise InvalidUpload(
                f"{name!r} is {width}x{height}; the minimum is {app_settings.MIN_WIDTH}x{app_settings.MIN_HEIGHT}."
            )
        fps = float(stream.average_rate or stream.guessed_rate or 0.0)
        thumbnail = _first_frame_jpeg(container, stream, name)
        duration = _duration_seconds(container, stream)
        if duration > app_settings.MAX_DURATION_S:
            raise InvalidUpload(f"{name!r} lasts {duration:.0f} s; the limit is {app_settings.MAX_DURATION_S:.0f} s.")
        if duration <= 0:  # no duration in the header: measure it (demuxing only, no decoding)
            end = _packets_end_s(container, stream, from_s=0.0, name=name)
            duration = end - _start_s(stream) if end is not None else 0.0
            if duration > app_settings.MAX_DURATION_S:
                raise InvalidUpload(
                    f"{name!r} lasts {duration:.0f} s; the limit is {app_settings.MAX_DURATION_S:.0f} s."
                )
        else:
            _check_complete(container, stream, duration, name)
        if duration <= 0:
            raise InvalidUpload(f"{name!r} has no measurable duration.")
        return ProbeResult(
            duration_s=duration,
            fps=fps,
            width=width,
            height=height,
            size_bytes=size,
            codec=codec,
            extension=extension,
            thumbnail_jpeg=thumbnail,
        )


def _duration_seconds(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return 0.0


def _packets_end_s(container, stream, *, from_s: float, name: str) -> float | None:
    """Where the stream's packets from ``from_s`` on really end, in seconds (None: no packet there)."""
    try:
        container.seek(int(from_s / stream.time_base), stream=stream, backward=True, any_frame=False)
        end = None
        for packet in container.demux(stream):
            if packet.size and packet.pts is not None:
                stop = float((packet.pts + (packet.duration or 0)) * packet.time_base)
                end = stop if end is None else max(end, stop)
        return end
    except (av.FFmpegError, ValueError) as exc:
        raise InvalidUpload(f"{name!r} could not be read to its end ({exc.__class__.__name__}).") from exc


def _start_s(stream) -> float:
    return float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0


def _check_complete(container, stream, duration: float, name: str) -> None:
    """Refuse a file whose data ends well before the duration its header claims."""
    end = _packets_end_s(container, stream, from_s=max(0.0, duration - TAIL_S), name=name)
    reached = (end or 0.0) - _start_s(stream)
    tolerance = max(TRUNCATION_TOLERANCE_S, TRUNCATION_TOLERANCE_FRACTION * duration)
    if end is None or reached < duration - tolerance:
        raise InvalidUpload(
            f"{name!r} is truncated: its data ends at {max(reached, 0.0):.1f} s of the {duration:.1f} s it declares."
        )


def _first_frame_jpeg(container, stream, name: str) -> bytes:
    """Decode the first frame (a truncated or corrupt file fails here)."""
    try:
        for frame in container.decode(stream):
            image = frame.to_image()
            image.thumbnail((THUMBNAIL_WIDTH, THUMBNAIL_WIDTH))
            buffer = io.BytesIO()
            image.convert("RGB").save(buffer, format="JPEG", quality=85)
            return buffer.getvalue()
    except (av.FFmpegError, ValueError) as exc:
        raise InvalidUpload(f"{name!r} could not be decoded ({exc.__class__.__name__}).") from exc
    raise InvalidUpload(f"{name!r} contains no decodable video frame.")
