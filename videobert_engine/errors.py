"""Named errors of the engine. ``str(error)`` is a reason fit to show as is."""


class EngineError(Exception):
    """Base class of every error the engine raises on purpose."""


class UnreadableVideo(EngineError):
    """A video file that cannot be decoded: missing, corrupt, truncated, not a video, or too slow to read."""


class HardwareDecodeError(EngineError):
    """The hardware decoder cannot read this file here (not installed, no GPU, a codec or file it rejects)."""


class CheckpointError(EngineError):
    """A checkpoint file that is missing, unreadable, or not a videobert_engine checkpoint."""


class ModelVersionMismatch(EngineError):
    """A checkpoint whose format or version is not the one the caller expects."""
