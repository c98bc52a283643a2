from rest_framework.routers import DefaultRouter

from incidents import api, maintenance_api

router = DefaultRouter(trailing_slash=True)
router.register("incidents", api.IncidentViewSet, basename="incident")
router.register(
    "maintenance-windows", maintenance_api.MaintenanceWindowViewSet, basename="maintenance-window"
)
router.register("monitor-states", api.MonitorStateViewSet, basename="monitor-state")

urlpatterns = router.urls
