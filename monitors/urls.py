from rest_framework.routers import DefaultRouter

from monitors import api

router = DefaultRouter(trailing_slash=True)
router.register("monitors", api.MonitorViewSet, basename="monitor")

urlpatterns = router.urls
