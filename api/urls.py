from rest_framework.routers import DefaultRouter

from api import history, monitors, variables

router = DefaultRouter(trailing_slash=True)
router.register("monitors", monitors.MonitorViewSet, basename="monitor")
router.register("variables", variables.TeamVariableViewSet, basename="variable")
router.register("status-pages", history.StatusPageViewSet, basename="status-page-api")

urlpatterns = router.urls
