from rest_framework.permissions import DjangoModelPermissions


class RolePermissions(DjangoModelPermissions):
    """Reading needs the model's view permission (every role has it); writing needs add/change/delete."""

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": ["%(app_label)s.view_%(model_name)s"],
    }

    def has_permission(self, request, view) -> bool:
        if getattr(view, request.method.lower(), None) is None:
            return bool(request.user and request.user.is_authenticated)  # let the view answer 405
        return super().has_permission(request, view)
