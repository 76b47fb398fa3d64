"""Named domain errors. Each carries a message fit to show a user as is."""

from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from kombu.exceptions import OperationalError as BrokerOperationalError

#: Errors that mean the database cannot be reached (a dropped connection, a
#: server restarting), as opposed to a bad query or bad data.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)
DATABASE_UNAVAILABLE_MESSAGE = "the database is unavailable; retry shortly."
DATABASE_RETRY_AFTER_S = 5

#: Errors of a broker that cannot be reached (refused, timed out, DNS), raised
#: by kombu once its publish retries are spent.
BROKER_UNAVAILABLE = (BrokerOperationalError, ConnectionError, TimeoutError)
BROKER_UNAVAILABLE_MESSAGE = "waiting to be sent: the task broker was unreachable; the beat sweep sends it."


class MediarecError(Exception):
    """Base class; ``str(error)`` is a readable reason."""


class InvalidUpload(MediarecError):
    """The uploaded file is not a video we can use (or is over a limit)."""


class InvalidQuery(MediarecError):
    """A search query the database cannot take (a NUL character)."""


class UploadTooLarge(InvalidUpload, RequestDataTooBig):
    """An upload over ``MEDIAREC_MAX_UPLOAD_BYTES``, stopped while it streams in. The API
    answers 413; elsewhere Django answers it as a ``SuspiciousOperation`` (400), never 500."""


class UnknownObject(MediarecError):
    """An id that names no video, user or model version."""


class InvalidInteraction(MediarecError):
    """An interaction with an unknown kind, a bad value or a foreign user."""


class ModelNotActive(MediarecError):
    """An operation needs an active model version and none is active."""


class InvalidCheckpoint(MediarecError):
    """A checkpoint that cannot be registered: unreadable, or of the wrong embedding dimension."""


class TransientEmbeddingError(MediarecError):
    """An embedding batch failed for a reason outside the videos (database, GPU memory, model file); worth retrying."""
