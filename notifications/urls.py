from django.urls import path
from rest_framework.routers import DefaultRouter

from notifications import api

router = DefaultRouter(trailing_slash=True)
router.register("channels", api.ChannelViewSet, basename="channel")
router.register("escalation-policies", api.EscalationPolicyViewSet, basename="escalation-policy")
router.register("deliveries", api.DeliveryViewSet, basename="delivery")
router.register("dead-letters", api.DeadLetterViewSet, basename="dead-letter")

urlpatterns = [
    path(
        "incidents/<int:incident_id>/deliveries/",
        api.DeliveryViewSet.as_view({"get": "list"}),
        name="incident-deliveries",
    ),
    *router.urls,
]
