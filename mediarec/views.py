"""Thin page views: parse the request, call a selector or service, render."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "mediarec/home.html", {})
