from rest_framework.routers import DefaultRouter

from monitors import api, history_api

router = DefaultRouter(trailing_slash=True)
router.register("monitors", api.MonitorViewSet, basename="monitor")
router.register("status-pages", history_api.StatusPageViewSet, basename="status-page-api")

urlpatterns = router.urls
