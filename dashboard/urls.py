"""Pages: the dashboard (session login), public status pages and badges (no login)."""

from django.urls import path

from dashboard import (
    account_views,
    api_key_views,
    auth_views,
    channel_views,
    maintenance_views,
    monitor_views,
    ops_views,
    status_views,
    team_views,
)

app_name = "dashboard"

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", monitor_views.overview, name="overview"),
    path("live/overview/", monitor_views.overview_rows, name="overview-live"),
    path("monitors/new/", monitor_views.monitor_create, name="monitor-create"),
    path("monitors/test/", monitor_views.monitor_test, name="monitor-test"),
    path("monitors/test/<uuid:pk>/", monitor_views.monitor_test_result, name="monitor-test-result"),
    path("monitors/<int:pk>/", monitor_views.monitor_detail, name="monitor-detail"),
    path("monitors/<int:pk>/live/", monitor_views.monitor_live, name="monitor-live"),
    path("monitors/<int:pk>/edit/", monitor_views.monitor_edit, name="monitor-edit"),
    path("monitors/<int:pk>/check-now/", monitor_views.monitor_check_now, name="monitor-check-now"),
    path("monitors/<int:pk>/pause/", monitor_views.monitor_pause, name="monitor-pause"),
    path("monitors/<int:pk>/resume/", monitor_views.monitor_resume, name="monitor-resume"),
    path("monitors/<int:pk>/delete/", monitor_views.monitor_delete, name="monitor-delete"),
    path("monitors/<int:pk>/badge/", monitor_views.monitor_badge, name="monitor-badge"),
    path("monitors/<int:pk>/clone/", monitor_views.monitor_clone, name="monitor-clone"),
    path("monitors/bulk/", monitor_views.monitor_bulk, name="monitor-bulk"),
    path("incidents/", ops_views.incident_list, name="incidents"),
    path(
        "incidents/<int:pk>/acknowledge/",
        ops_views.incident_acknowledge,
        name="incident-acknowledge",
    ),
    path("incidents/<int:pk>/updates/", ops_views.incident_update_post, name="incident-update"),
    path("maintenance/", maintenance_views.maintenance_list, name="maintenance"),
    path("maintenance/new/", maintenance_views.maintenance_create, name="maintenance-create"),
    path(
        "maintenance/<int:pk>/end-now/",
        maintenance_views.maintenance_end_now,
        name="maintenance-end-now",
    ),
    path(
        "maintenance/<int:pk>/delete/",
        maintenance_views.maintenance_delete,
        name="maintenance-delete",
    ),
    path(
        "monitors/<int:pk>/maintenance/",
        maintenance_views.monitor_maintenance,
        name="monitor-maintenance",
    ),
    path("channels/", channel_views.channel_list, name="channels"),
    path("channels/new/", channel_views.channel_create, name="channel-create"),
    path("channels/<int:pk>/edit/", channel_views.channel_edit, name="channel-edit"),
    path("channels/<int:pk>/default/", channel_views.channel_default, name="channel-default"),
    path("channels/<int:pk>/delete/", channel_views.channel_delete, name="channel-delete"),
    path("channels/<int:pk>/test/", channel_views.channel_test, name="channel-test"),
    path("dead-letters/", ops_views.dead_letter_list, name="dead-letters"),
    path("dead-letters/<int:pk>/replay/", ops_views.dead_letter_replay, name="dead-letter-replay"),
    path("audit/", team_views.audit_log, name="audit"),
    path("api-keys/", api_key_views.api_key_list, name="api-keys"),
    path("api-keys/<int:pk>/revoke/", api_key_views.api_key_revoke, name="api-key-revoke"),
    path("invitations/", team_views.invitation_list, name="invitations"),
    path("team/", team_views.team_home, name="team"),
    path("team/new/", team_views.team_new, name="team-create"),
    path("team/<int:pk>/", team_views.team_page, name="team-detail"),
    path("team/<int:pk>/invite/", team_views.team_invite, name="team-invite"),
    path(
        "team/<int:pk>/members/<int:user_id>/role/",
        team_views.member_change_role,
        name="member-role",
    ),
    path(
        "team/<int:pk>/members/<int:user_id>/remove/",
        team_views.member_remove,
        name="member-remove",
    ),
    path("account/", account_views.account_settings, name="account"),
    path("account/password/", account_views.password_change, name="password-change"),
    path("invitations/<int:pk>/", team_views.invitation_answer, name="invitation-answer"),
    path("status-pages/", status_views.status_page_list, name="status-pages"),
    path("status-pages/new/", status_views.status_page_create, name="status-page-create"),
    path("status-pages/<int:pk>/edit/", status_views.status_page_edit, name="status-page-edit"),
    path(
        "status-pages/<int:pk>/delete/", status_views.status_page_delete, name="status-page-delete"
    ),
]

# Public, outside the dashboard namespace so the API can reverse them by plain names.
public_urlpatterns = [
    path("status/<slug:slug>/", status_views.public_status_page, name="status-page"),
    path("status/<slug:slug>/live/", status_views.public_status_live, name="status-page-live"),
    path("badge/<str:token>/status.svg", status_views.badge_status, name="badge-status"),
    path("badge/<str:token>/uptime.svg", status_views.badge_uptime, name="badge-uptime"),
]
