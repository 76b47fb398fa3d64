"""Sample fixed-size clips from a video file with PyAV.

    file ─► n_clips evenly spaced clips ─► frames_per_clip frames each, at ``fps`` ─► (n, T, S, S, 3) uint8

- One decoder thread: worker processes decode files in parallel, and threads inside a decoder only add CPU time.
- The key-frame layout decides, per file, where a seek skips frames: the container's index (mp4, avi; the cues of
  mkv/webm). A clip is reached by seeking only when the key frame before it lies past what was decoded already;
  otherwise decoding goes on. So a file with one key frame, or without an index, is decoded straight through
  once and never pays more than that.
- While decoding through, a non-reference frame that no target time can hold is dropped unseen (h264, MPEG-4,
  MPEG-2 B-frames, in containers that carry presentation times): the clips are the ones decoding every frame
  gives, for less.
- A frame is taken for each target time by sample-and-hold on presentation times, so variable frame rates work,
  and a seek never lands past its target (it steps back a key frame), so seeking picks what decoding through picks.
- A video shorter than one clip is looped (a 1-frame video repeats its frame).
- Frames are scaled (short side to S) and center-cropped, or squashed whole to S x S (``fit="squash"``: nothing
  near the edges is lost), with swscale, then turned upright per rotation metadata.
- Anything wrong (missing, empty, not a video, corrupt, truncated, too slow) raises ``UnreadableVideo``; the
  container is always closed.
"""

from __future__ import annotations

import itertools
import os
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from videobert_engine.config import ClipConfig
from videobert_engine.errors import UnreadableVideo

TEXT_CODECS = {"ansi", "bintext", "xbin", "idf", "tty"}  # demuxers that render text files as "video"
# decoders whose non-reference frames FFmpeg can drop (skip_frame=NONREF) without touching any other frame
DROPPABLE_CODECS = {"h264", "mpeg4", "mpeg2video", "mpeg1video"}
# containers whose packets carry presentation times (not AVI: its times are in decode order, and packed B-frames
# make a packet's drop decision fall on another frame)
PTS_FORMATS = {"mov", "mp4", "matroska", "webm", "mpeg", "mpegts"}
REORDER_WINDOW = 32  # packets: more than any decoder's reordering depth
INDEXED_FORMATS = {"mov", "mp4", "avi", "matroska", "webm"}  # demuxers whose index lists the key frames


@dataclass
class VideoInfo:
    duration_s: float | None
    width: int
    height: int
    fps: float | None
    codec: str
    rotation: int  # degrees counter-clockwise to turn the frames upright
    has_audio: bool


def probe_video(path: str | os.PathLike, timeout_s: float = 30.0) -> VideoInfo:
    """Container facts plus the first frame's rotation; raises ``UnreadableVideo``."""
    with _Reader(path, timeout_s) as r:
        first = next(r.frames(), None)
        if first is None:
            raise UnreadableVideo(f"{r.name}: no decodable video frame")
        return VideoInfo(
            r.duration,
            r.stream.width,
            r.stream.height,
            r.fps,
            r.stream.codec_context.name,
            first.rotation % 360,
            r.has_audio,
        )


def sample_clips(path: str | os.PathLike, spec: ClipConfig) -> np.ndarray:
    """-> uint8 array (n_clips, frames_per_clip, size, size, 3) in RGB; raises ``UnreadableVideo``."""
    with _Reader(path, spec.timeout_s) as r:
        return r.sample(spec)


def clip_times(duration: float | None, spec: ClipConfig) -> np.ndarray:
    """Target times (n_clips, frames_per_clip) in seconds from the stream start.

    Clips are centred on evenly spaced points; in a video shorter than one clip, clip i starts i/n of the way in
    and wraps around (the caller takes times modulo the duration).
    """
    n, T = spec.n_clips, spec.frames_per_clip
    offsets = np.arange(T) / spec.fps
    span = T / spec.fps
    if duration is None or duration <= 0:
        return np.broadcast_to(offsets, (n, T)).copy()
    starts = duration * np.arange(n) / n if duration < span else (duration - span) * (np.arange(n) + 0.5) / n
    return starts[:, None] + offsets[None, :]


class _Reader:
    """One open container; ``sample`` does the clip extraction."""

    def __init__(self, path: str | os.PathLike, timeout_s: float):
        self.name = Path(path).name
        self.deadline = time.monotonic() + timeout_s
        self.timeout_s = timeout_s
        self.decoded = 0  # frames decoded so far (seeking keeps this far below the frame count of long videos)
        self.keyframes: np.ndarray | None = None  # key-frame times from the stream start, once looked up
        self.reformatter = VideoReformatter()  # one scaler for every frame of the file (its context is reused)
        if not os.path.isfile(path):
            raise UnreadableVideo(f"{self.name}: no such file")
        if os.path.getsize(path) == 0:
            raise UnreadableVideo(f"{self.name}: empty file")
        try:
            self.container = av.open(str(path), metadata_errors="ignore")
        except (av.FFmpegError, OSError, ValueError) as exc:
            raise UnreadableVideo(f"{self.name}: not a readable video ({_reason(exc)})") from None
        try:
            if not self.container.streams.video:
                raise UnreadableVideo(f"{self.name}: no video stream")
            self.stream = self.container.streams.video[0]
            self.stream.codec_context.thread_count = 1
            if self.stream.codec_context.name in TEXT_CODECS or self.container.format.name in TEXT_CODECS:
                raise UnreadableVideo(f"{self.name}: a text file, not a video")
            self.has_audio = bool(self.container.streams.audio)
            self.formats = set(self.container.format.name.split(","))  # "mov,mp4,m4a,3gp,3g2,mj2" -> its names
            tb = self.stream.time_base
            self.start = float(self.stream.start_time * tb) if self.stream.start_time is not None else 0.0
            if self.stream.duration:
                self.duration = float(self.stream.duration * tb)
            elif self.container.duration:
                self.duration = self.container.duration / 1e6
            else:
                self.duration = None
            rate = self.stream.average_rate or self.stream.guessed_rate
            self.fps = float(rate) if rate else None
        except BaseException:
            self.container.close()
            raise

    def __enter__(self) -> _Reader:
        return self

    def __exit__(self, *exc) -> None:
        self.container.close()

    def frames(self, targets: np.ndarray | None = None):
        """Decoded frames in presentation order from the current position; FFmpeg errors become UnreadableVideo.

        With ``targets`` (sorted seconds from the start), a frame that no target can hold is not decoded where
        the codec lets it be dropped (a non-reference frame; ``DROPPABLE_CODECS`` in ``PTS_FORMATS``): no target lies between its
        time and the earliest later time among the packets read so far, which bounds the next frame's time.
        """
        ctx, tb = self.stream.codec_context, self.stream.time_base
        drop = targets is not None and ctx.name in DROPPABLE_CODECS and bool(self.formats & PTS_FORMATS)
        later_than = deque(maxlen=REORDER_WINDOW)  # times of the last packets read, in decode order
        try:
            for packet in self.container.demux(self.stream):
                if drop and packet.pts is not None:
                    t = float(packet.pts * tb) - self.start
                    bound = min((x for x in later_than if x > t), default=None)
                    held = bound is None or _any_between(targets, t, bound)
                    ctx.skip_frame = "DEFAULT" if held else "NONREF"
                    later_than.append(t)
                elif drop:
                    ctx.skip_frame = "DEFAULT"
                for frame in packet.decode():
                    self.decoded += 1
                    if time.monotonic() > self.deadline:
                        raise UnreadableVideo(f"{self.name}: decoding took longer than {self.timeout_s:.0f} s")
                    yield frame
        except (av.FFmpegError, ValueError, MemoryError) as exc:
            raise UnreadableVideo(f"{self.name}: corrupt video data ({_reason(exc)})") from None

    def frame_time(self, frame: av.VideoFrame, index: int) -> float:
        if frame.time is not None:
            return frame.time - self.start
        return index / (self.fps or 25.0)

    def is_short(self, spec: ClipConfig) -> bool:
        """Shorter than one clip (or of unknown length): read through, with the clip times wrapped around."""
        return self.duration is None or self.duration < spec.frames_per_clip / spec.fps

    def target_times(self, spec: ClipConfig) -> np.ndarray:
        """(n, T) seconds from the stream start at which frames are taken."""
        times = clip_times(self.duration, spec)
        return np.mod(times, self.duration) if self.is_short(spec) and self.duration else times

    def truncation_tolerance_s(self) -> float:
        """How far past the last frame a target may lie before the file counts as truncated."""
        return max(1.0, 0.1 * (self.duration or 0.0))

    def sample(self, spec: ClipConfig) -> np.ndarray:
        times = self.target_times(spec)  # (n, T)
        short = self.is_short(spec)
        flat = times.reshape(-1)
        out = np.empty((flat.size, spec.size, spec.size, 3), dtype=np.uint8)
        tolerance = self.truncation_tolerance_s()

        ordered = np.sort(flat)
        frames = self.timed_frames(ordered)
        held = ahead = None  # (time, frame): the last frame at or before the target, and the next one decoded
        image, image_of, last_time = None, None, 0.0  # converted image, the frame it came from, its time
        for slot in np.argsort(flat, kind="stable"):
            target = float(flat[slot])
            decoded_until = ahead[0] if ahead else (held[0] if held else 0.0)
            if not short and self._worth_seeking(target, decoded_until):
                frames, held, ahead = self._frames_before(target, ordered), None, None
            while True:  # decode until the next frame lies past the target
                if ahead is None:
                    ahead = next(frames, None)
                    if ahead is None:
                        break
                if ahead[0] > target:
                    break
                held, ahead = ahead, None
            pick = held or ahead  # a target before the first frame takes the first frame
            if pick is not None and image_of is not pick[1]:
                image = to_square_rgb(pick[1], spec.size, spec.fit, self.reformatter)
                image_of, last_time = pick[1], pick[0]
            if image is None:
                raise UnreadableVideo(f"{self.name}: no decodable video frame")
            if ahead is None:  # the stream has ended: fine just past the last frame, not far past it
                shown_until = last_time + _duration_s(image_of)
                if target - shown_until > tolerance:
                    raise UnreadableVideo(
                        f"{self.name}: truncated or corrupt (declared {self.duration or 0:.1f} s, frames stop at {shown_until:.1f} s)"
                    )
            out[slot] = image
        return out.reshape(*times.shape, spec.size, spec.size, 3)

    def timed_frames(self, targets: np.ndarray | None = None) -> Iterator[tuple[float, av.VideoFrame]]:
        """(time from the stream start, frame) from the current position (``targets``: see ``frames``)."""
        for count, frame in enumerate(self.frames(targets)):
            yield self.frame_time(frame, count), frame

    def _worth_seeking(self, target: float, decoded_until: float) -> bool:
        """Seek when it skips frames: the key frame before ``target`` lies past what was decoded already."""
        if self.keyframes is None:
            self.keyframes = self._key_times()
        i = np.searchsorted(self.keyframes, target, side="right") - 1
        return i >= 0 and self.keyframes[i] > decoded_until + 1e-3

    def _frames_before(self, target: float, targets: np.ndarray) -> Iterator[tuple[float, av.VideoFrame]]:
        """Frames from the key frame at or before ``target``, stepping back a key frame while the first one lies
        past it (an index of decode times, an open GOP), so that the frame held at ``target`` is the one that
        decoding through would hold."""
        i = np.searchsorted(self.keyframes, target, side="right") - 1
        seek_to = target
        while True:
            self._seek(seek_to)
            frames = self.timed_frames(targets)
            first = next(frames, None)
            if first is None or first[0] <= target + 1e-6 or i <= 0:
                return itertools.chain([first] if first else [], frames)
            i -= 1
            seek_to = float(self.keyframes[i])

    def _key_times(self) -> np.ndarray:
        """Key-frame times from the stream start, sorted, from the container's index (the cues of mkv/webm are
        read by a seek). Without one (MPEG-PS, TS, Ogg, ...) it is empty, and the file is decoded through: seeking
        there goes by estimated byte positions and can land on frames that decoding through would not show."""
        stream = self.stream
        if not self.formats & INDEXED_FORMATS:
            return np.empty(0)
        if len(stream.index_entries) <= 1 and self.container.format.name.startswith("matroska"):
            self._seek(0.0)  # matroska reads its cues on the first seek
        entries = stream.index_entries
        if len(entries) <= 1:
            return np.empty(0)
        tb = stream.time_base
        return np.sort([float(e.timestamp * tb) - self.start for e in entries if e.is_keyframe])

    def _seek(self, t: float) -> None:
        offset = int((t + self.start) / self.stream.time_base)
        try:
            self.container.seek(max(offset, 0), stream=self.stream, backward=True, any_frame=False)
        except (av.FFmpegError, ValueError) as exc:
            raise UnreadableVideo(f"{self.name}: cannot seek ({_reason(exc)})") from None


def to_square_rgb(
    frame: av.VideoFrame, size: int, fit: str = "crop", reformatter: VideoReformatter | None = None
) -> np.ndarray:
    """Scale the short side to ``size`` and center-crop to a square (``fit="squash"``: scale the whole frame to
    the square), turn upright -> (size, size, 3) uint8. Pass one ``reformatter`` for the frames of a file: it
    keeps its scaler between calls (the same pixels, a fraction of the cost)."""
    sw, sh = scaled_size(frame.width, frame.height, size, fit)
    scaler = reformatter or VideoReformatter()
    image = scaler.reformat(frame, width=sw, height=sh, format="rgb24", interpolation="AREA").to_ndarray()
    top, left = (sh - size) // 2, (sw - size) // 2
    image = image[top : top + size, left : left + size]
    quarter_turns = (frame.rotation % 360) // 90
    return np.ascontiguousarray(np.rot90(image, k=quarter_turns)) if quarter_turns else image


def scaled_size(w: int, h: int, size: int, fit: str = "crop") -> tuple[int, int]:
    """(width, height) a w x h frame is scaled to before the center crop to size x size."""
    if fit == "squash":
        return size, size
    scale = size / min(w, h)
    return max(size, round(w * scale)), max(size, round(h * scale))


def _any_between(sorted_times: np.ndarray, start: float, stop: float) -> bool:
    """Whether some time t has start <= t < stop."""
    i = np.searchsorted(sorted_times, start, side="left")
    return bool(i < len(sorted_times) and sorted_times[i] < stop)


def _duration_s(frame: av.VideoFrame) -> float:
    """How long the frame is shown, when the stream says so (0 otherwise)."""
    duration, time_base = getattr(frame, "duration", None), frame.time_base
    return float(duration * time_base) if duration and time_base else 0.0


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return text.split(": '")[0]
