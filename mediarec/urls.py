"""URLs of the mediarec pages; a host site mounts them with include("mediarec.urls")
and the JSON API with path("api/", mediarec.api.api.urls) (see reference_site/urls.py)."""

from django.contrib.auth import views as auth_views
from django.urls import path

from mediarec import views

app_name = "mediarec"

urlpatterns = [
    path("", views.home, name="home"),
    path("videos/<int:pk>/", views.video_detail, name="video-detail"),
    path("videos/<int:pk>/react/", views.video_react, name="video-react"),
    path("search/", views.search, name="search"),
    path("login/", auth_views.LoginView.as_view(template_name="mediarec/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
]
