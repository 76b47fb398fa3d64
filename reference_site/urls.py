"""URLs of the reference site. Uploaded media are served by Django here so the
demo needs no web server in front; production puts nginx or a CDN there."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.views.static import serve

from mediarec.api import api

urlpatterns = [
    path("admin/", admin.site.urls),
    re_path(r"^media/(?P<path>.*)$", serve, {"document_root": settings.MEDIA_ROOT}),
    path("api/", api.urls),
    path("", include("mediarec.urls")),
]
