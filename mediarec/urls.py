"""URLs of the mediarec app; a host site mounts them with include("mediarec.urls")."""

from django.urls import path

from mediarec import views

app_name = "mediarec"

urlpatterns = [
    path("", views.home, name="home"),
]
