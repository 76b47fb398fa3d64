"""Pages answer a lost database with a plain 503 page, not a server error.

The JSON API has its own handler (``api.py``); this covers the HTML pages. The
page is rendered without a request context, so it touches neither the session
nor the user, which live in the database too.
"""

from __future__ import annotations

import logging

from django.http import HttpResponse
from django.template.loader import render_to_string

from mediarec.errors import DATABASE_RETRY_AFTER_S, DATABASE_UNAVAILABLE

log = logging.getLogger(__name__)


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, DATABASE_UNAVAILABLE):
            return None
        log.error("database unavailable for %s %s: %s", request.method, request.path, exception)
        page = render_to_string("mediarec/unavailable.html", {"retry_after_s": DATABASE_RETRY_AFTER_S})
        response = HttpResponse(page, status=503)
        response["Retry-After"] = str(DATABASE_RETRY_AFTER_S)
        return response
