from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounts.throttling import refuse_throttled_logins
from dashboard.urls import public_urlpatterns
from healthmon.pings import ping_view

api_v1 = [
    path("", include("accounts.urls")),
    path("", include("api.urls")),
    path("", include("incidents.urls")),
    path("", include("notifications.urls")),
    path("", include("config.urls")),
]

urlpatterns = [
    # Heartbeat pings; in production healthmon/wsgi.py answers them before this URL conf.
    re_path(r"^ping/(?P<path>.*)$", ping_view, name="ping"),
    # The admin's login under the same failed-login policy as the API and the dashboard.
    path("admin/login/", refuse_throttled_logins(admin.site.login)),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its init script as a file (?script), not inline: see healthmon/csp.py.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
    # The dashboard (session login), public status pages and badges.
    *public_urlpatterns,
    path("", include("dashboard.urls")),
]
