"""The Django admin as one more writer: its saves and deletes go through the services."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db import transaction
from django.db.models import QuerySet
from django.forms.formsets import BaseFormSet
from django.http import HttpRequest


class ServiceWritesAdmin(admin.ModelAdmin):
    """A ModelAdmin whose ``save_model`` and ``delete_model`` call the app's services, which
    validate, audit (with the staff user as actor) and set relations themselves.

    The admin runs each POST in one transaction, so a form that takes the team lock in its
    ``clean`` (for a quota) holds it until the service has saved: the check shown on the form
    is still true when the service repeats it.
    """

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        with transaction.atomic():  # all or none, as the admin's own bulk delete
            for obj in queryset:  # one by one, each audited
                self.delete_model(request, obj)

    def save_related(
        self,
        request: HttpRequest,
        form: forms.ModelForm,
        formsets: list[BaseFormSet],
        change: bool,
    ) -> None:
        # The service set the many-to-many fields (form.save_m2m would set them again,
        # unvalidated and unaudited); inlines still save as usual.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)
