from django.conf import settings
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle


class SettingsRateMixin:
    """Reads the rate from settings at request time, so it can be changed without a restart of the class."""

    def get_rate(self):
        return settings.REGISTRY_API_RATES[self.scope]


class UserThrottle(SettingsRateMixin, UserRateThrottle):
    pass


class AnonThrottle(SettingsRateMixin, AnonRateThrottle):
    pass
