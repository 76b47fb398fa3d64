"""Pages answer a lost database with a plain 503 page, not a server error.

The JSON API has its own handler (``api.py``); this covers the HTML pages. The
page is rendered without a request context, so it touches neither the session
nor the user, which live in the database too.
"""

from __future__ import annotations

import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse
from django.template.loader import render_to_string

log = logging.getLogger(__name__)

RETRY_AFTER_S = 5


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        log.error("database unavailable for %s %s: %s", request.method, request.path, exception)
        page = render_to_string("mediarec/unavailable.html", {"retry_after_s": RETRY_AFTER_S})
        response = HttpResponse(page, status=503)
        response["Retry-After"] = str(RETRY_AFTER_S)
        return response
