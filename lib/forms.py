"""Django forms (dashboard pages, admin) showing what the model and the services refuse."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError


def add_service_errors(form: forms.BaseForm, error: ValidationError) -> None:
    """Show a model's or a service's ``ValidationError`` on ``form``: each message under its
    field when the form has one, above the form otherwise (a quota, a relation's team)."""
    for field, messages in error.update_error_dict({}).items():
        form.add_error(field if field in form.fields else None, messages)
