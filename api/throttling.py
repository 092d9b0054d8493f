import hashlib

from django.conf import settings
from rest_framework.throttling import AnonRateThrottle, ScopedRateThrottle, UserRateThrottle


class SettingsRateMixin:
    """Reads the rate from settings at request time, so it can be changed without a restart of the class."""

    def get_rate(self):
        return settings.REGISTRY_API_RATES[self.scope]


class UserThrottle(SettingsRateMixin, UserRateThrottle):
    pass


class AnonThrottle(SettingsRateMixin, AnonRateThrottle):
    pass


class TokenThrottle(SettingsRateMixin, ScopedRateThrottle):
    """Password attempts for a token (the view's throttle_scope, REGISTRY_API_RATES["token"]), per client address
    (per user when already signed in). Only POST checks a password: revoking a token (DELETE) is not counted."""

    def allow_request(self, request, view) -> bool:
        if request.method != "POST":
            return True
        return super().allow_request(request, view)


class TokenUsernameThrottle(TokenThrottle):
    """Password attempts for one username from any address (REGISTRY_API_RATES["token_username"]): guessing
    one account's password from many addresses is slowed too. Its rate is higher than the per-address one, so
    that a stranger's failed guesses lock its owner out for a while at worst."""

    scope_attr = "throttle_username_scope"

    def get_cache_key(self, request, view) -> str | None:
        username = request.data.get("username") if isinstance(request.data, dict) else None
        if not isinstance(username, str) or not username:
            return None
        return self.cache_format % {"scope": self.scope, "ident": username_key(username)}


def username_key(username: str) -> str:
    """A fixed-size cache key for a username a client sent (up to the body limit): its first USERNAME_MAX
    characters, casefolded, hashed. No account has a longer name, so no two accounts share a key."""
    return hashlib.sha256(username[:USERNAME_MAX].casefold().encode("utf-8", "surrogatepass")).hexdigest()


USERNAME_MAX = 150  # django.contrib.auth's User.username max_length
