import os

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "registry.settings")

# Refuse to serve without a secret key (settings give one only when DEBUG is on).
try:
    settings.SECRET_KEY  # noqa: B018 - Django refuses an empty key on access
except ImproperlyConfigured:
    raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off") from None

application = get_wsgi_application()
