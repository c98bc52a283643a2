#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "healthmon.settings")
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    # Load the settings before Django does: a configuration error (no SECRET_KEY, DEBUG=ture)
    # is one line on stderr, not a hundred-line traceback through the command machinery.
    try:
        settings.INSTALLED_APPS  # noqa: B018 - evaluated to import the settings module
    except ImproperlyConfigured as error:
        sys.exit(f"healthmon: configuration error: {error}")
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
