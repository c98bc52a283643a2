import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "healthmon.settings")

django_application = get_wsgi_application()  # sets Django up: the apps are loaded from here on

from healthmon.pings import PingEndpoint  # noqa: E402 - imports models

# Heartbeat pings are answered before Django's handler and middleware (healthmon/pings.py).
application = PingEndpoint(django_application)
