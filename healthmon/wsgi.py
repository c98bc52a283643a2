import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "healthmon.settings")

from healthmon.pings import PingEndpoint  # noqa: E402 - needs the settings module set

# Heartbeat pings are answered before Django's handler and middleware (healthmon/pings.py).
application = PingEndpoint(get_wsgi_application())
