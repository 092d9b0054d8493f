"""Django's ModelBackend with a user's permissions read in one query instead of two (the user's own, then the
groups'): every signed-in request that checks a permission reads them once, so this is one round trip fewer on
every API request and admin page (issue 16). The rules are Django's: an inactive or anonymous user has none, a
superuser has every permission, object permissions are not supported."""

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission
from django.db.models import Q


class OneQueryModelBackend(ModelBackend):
    def get_all_permissions(self, user_obj, obj=None) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            permissions = Permission.objects.all()
            if not user_obj.is_superuser:
                permissions = permissions.filter(Q(user=user_obj) | Q(group__user=user_obj))
            user_obj._perm_cache = {
                f"{app_label}.{codename}"
                for app_label, codename in permissions.order_by().values_list("content_type__app_label", "codename")
            }
        return user_obj._perm_cache
