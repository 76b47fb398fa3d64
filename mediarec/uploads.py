"""An oversized upload is refused before it is written anywhere.

Two guards, both on ``MEDIAREC_MAX_UPLOAD_BYTES``:

- ``UploadSizeLimitMiddleware`` answers 413 from the ``Content-Length`` header
  alone, before anything reads the body (the CSRF check would parse it);
- ``SizeLimitUploadHandler``, first in ``FILE_UPLOAD_HANDLERS``, counts the file
  bytes as they stream in and stops past the limit, for a body whose length
  header did not tell (a multipart body carries form fields around the file,
  so the middleware allows ``FORM_OVERHEAD_BYTES`` beyond the limit).

The messages give bytes and MiB on both sides, so the numbers never contradict.
"""

from __future__ import annotations

from django.core.files.uploadhandler import FileUploadHandler
from django.http import JsonResponse

from mediarec.conf import app_settings
from mediarec.errors import UploadTooLarge

FORM_OVERHEAD_BYTES = 1024 * 1024


def size_text(n: int) -> str:
    return f"{n:,} bytes ({n / 2**20:.1f} MiB)"


def upload_too_large_message(size: int, *, at_least: bool = False) -> str:
    limit = app_settings.MAX_UPLOAD_BYTES
    return f"the upload is {'over ' if at_least else ''}{size_text(size)}; the limit is {size_text(limit)}."


class UploadSizeLimitMiddleware:
    """413 for a request body longer than any upload may be (first in ``MIDDLEWARE``)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0  # Django reads no body then
        if length > app_settings.MAX_UPLOAD_BYTES + FORM_OVERHEAD_BYTES:
            return JsonResponse({"detail": upload_too_large_message(length)}, status=413)
        return self.get_response(request)


class SizeLimitUploadHandler(FileUploadHandler):
    """Stops a multipart upload once its files pass ``MEDIAREC_MAX_UPLOAD_BYTES``."""

    def __init__(self, request=None):
        super().__init__(request)
        self.received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > app_settings.MAX_UPLOAD_BYTES:
            # Django closes the handlers' files only on StopUpload (which would leave the
            # API nothing to answer 413 with); a temporary file closed here is deleted.
            for handler in getattr(self.request, "upload_handlers", []):
                if hasattr(handler, "file"):
                    handler.file.close()
            raise UploadTooLarge(upload_too_large_message(self.received, at_least=True))
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None
