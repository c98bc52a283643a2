"""The raw reference of bench.heartbeat: the cheapest answer gunicorn can give, one static
``200 OK``, served with the same configuration (deploy/gunicorn.conf.py) as healthmon.

Django is set up (not used) because the configuration's ``post_worker_init`` loads the URL
conf: the reference process then holds what a healthmon worker holds.
"""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "healthmon.settings")
django.setup()

BODY = b"OK\n"
HEADERS = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(BODY)))]


def application(environ, start_response):
    start_response("200 OK", HEADERS)
    return [BODY]
