from django.urls import path

from config import api

urlpatterns = [
    path("config/plan/", api.ConfigPlanView.as_view(), name="config-plan"),
    path("config/apply/", api.ConfigApplyView.as_view(), name="config-apply"),
    path("config/import/", api.ConfigImportView.as_view(), name="config-import"),
    path("config/schema.json", api.ConfigSchemaView.as_view(), name="config-schema"),
]
