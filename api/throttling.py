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
