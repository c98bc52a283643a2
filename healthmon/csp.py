"""Content-Security-Policy on every response (Django 5.2 has no CSP support of its own).

The policy allows only this origin's scripts, styles and frames: no inline scripts or
styles, so an injected ``<script>`` or ``style=`` does nothing even if escaping ever fails.
The dashboard keeps its JavaScript and CSS in static files; Swagger UI is served from
drf-spectacular-sidecar's static files, not a CDN.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        # A view that needs another policy sets the header itself.
        response.headers.setdefault("Content-Security-Policy", settings.CONTENT_SECURITY_POLICY)
        return response
