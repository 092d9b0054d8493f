"""gunicorn settings for bin/serve. Worker processes from the CPU count, each with REGISTRY_THREADS threads; on
PostgreSQL each process keeps a pool of at most as many connections (registry/settings.py), so the server holds at
most workers x threads connections, however many clients arrive."""

import os

bind = os.environ.get("REGISTRY_ADDRESS") or "127.0.0.1:8000"
workers = int(os.environ.get("REGISTRY_WORKERS") or max(2, os.cpu_count() or 1))
worker_class = "gthread"
threads = int(os.environ.get("REGISTRY_THREADS") or 4)
timeout = 60  # a request still running after this is ended and its worker restarted
graceful_timeout = 20
max_requests = 5000  # each worker is replaced after this many requests (with jitter): bounds any slow leak
max_requests_jitter = 500
accesslog = "-"  # access log on stdout; errors and Django's JSON-lines log on stderr
errorlog = "-"
control_socket_disable = True  # no shared ~/.gunicorn/gunicorn.ctl: several registries may run on one machine
