"""REDIS_URL: caches, throttle counts included, live in Redis (127.0.0.1:6379 on these machines), shared by every
server process; without it in files under var/cache/."""

import os
import subprocess
import sys
import uuid

import pytest
import redis
from django.core.cache import caches
from django.test import override_settings
from rest_framework.test import APIClient

from api.throttling import username_key
from tests.factories import make_user

pytestmark = pytest.mark.django_db

REDIS_URL = "redis://127.0.0.1:6379/15"


def cache_backend(**env) -> str:
    code = "from django.conf import settings; print(settings.CACHES['default']['BACKEND'])"
    environment = {k: v for k, v in os.environ.items() if k != "REDIS_URL"} | env | {"SECRET_KEY": "x"}
    environment["DJANGO_SETTINGS_MODULE"] = "registry.settings"
    done = subprocess.run(  # noqa: S603 - our own settings, fixed arguments
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        env=environment,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_redis_url_switches_the_cache_to_redis_and_its_absence_to_files_under_var():
    assert cache_backend(REDIS_URL=REDIS_URL) == "django_redis.cache.RedisCache"
    assert cache_backend() == "django.core.cache.backends.filebased.FileBasedCache"


def test_throttle_counts_live_in_redis_under_hashed_keys(settings):
    prefix = f"test-{uuid.uuid4().hex}"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.REGISTRY_API_RATES = {**settings.REGISTRY_API_RATES, "token": "100/min", "token_username": "3/min"}
    make_user("ana", "analyst")
    server = redis.Redis.from_url(REDIS_URL)
    config = {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": REDIS_URL, "KEY_PREFIX": prefix}
    try:
        with override_settings(CACHES={"default": config}):
            long_name = "Ana" + "x" * 10_000
            statuses = [
                APIClient()
                .post("/api/v1/auth/token/", {"username": name, "password": "guess"}, format="json")
                .status_code
                for name in ["ana", "ANA", "Ana", "ana", long_name]
            ]
            assert statuses == [400, 400, 400, 429, 400]
            keys = sorted(k.decode() for k in server.scan_iter(f"{prefix}:*"))
            # one key per username (case-blind) and one per client address; no username in any of them
            assert any(username_key("ana") in k for k in keys)
            assert any(username_key(long_name) in k for k in keys)
            assert all(len(k) < 200 and "ana" not in k.lower().replace(prefix, "") for k in keys)
            # a second cache connection (another server process) sees the same count
            other = caches.create_connection("default")
            assert len(other.get(f"throttle_token_username_{username_key('ana')}")) == 3
    finally:
        for key in server.scan_iter(f"{prefix}:*"):
            server.delete(key)
