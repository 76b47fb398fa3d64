"""URLs of the reference site. Uploaded media go through ``mediarec.views.media_file``,
which checks who may see them; in production it answers with X-Accel-Redirect and
nginx sends the bytes (``MEDIAREC_MEDIA_ACCEL_REDIRECT``, README)."""

from django.contrib import admin
from django.urls import include, path, re_path

from mediarec import views
from mediarec.api import api

urlpatterns = [
    path("admin/", admin.site.urls),
    re_path(r"^media/(?P<path>.+)$", views.media_file, name="media"),
    path("api/", api.urls),
    path("", include("mediarec.urls")),
]
