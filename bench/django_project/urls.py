"""The URLconf and its views: a page rendered from a template and a JSON list."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import path

from .models import Note


def index(request: HttpRequest) -> HttpResponse:
    return render(request, "index.html")


@login_required
def api_notes(request: HttpRequest) -> JsonResponse:
    notes = Note.objects.filter(owner=request.user).order_by("-created_at")
    return JsonResponse({"notes": [{"id": note.pk, "text": note.text} for note in notes]})


urlpatterns = [path("", index), path("api/notes", api_notes)]
