"""Query parameters are checked, never silently ignored: an unknown one is a 400 that names it.

A view knows the filters it applies (its django-filter FilterSet, on the actions that filter), its pagination's
parameters, DRF's `format`, and what it declares itself (`extra_query_parameters`, e.g. `by`, `align`, `fields`).
"""

from __future__ import annotations

from rest_framework import serializers

# Actions of a viewset that filter and paginate; a plain view (no action) always does.
LIST_ACTIONS = {None, "list"}


class KnownQueryParameters:
    """Mixin for API views: 400 for any query parameter the view does not use (after authentication and
    permissions, so an anonymous request is still a 401)."""

    extra_query_parameters: tuple[str, ...] = ()

    def known_query_parameters(self) -> set[str]:
        known = {"format", *self.extra_query_parameters}
        if getattr(self, "action", None) in LIST_ACTIONS:
            filterset_class = getattr(self, "filterset_class", None)
            if filterset_class is not None:
                known |= set(filterset_class.base_filters)
            pagination_class = getattr(self, "pagination_class", None)
            if pagination_class is not None:
                known |= {
                    value
                    for name in dir(pagination_class)
                    if name.endswith("_query_param") and isinstance(value := getattr(pagination_class, name), str)
                }
        return known

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        unknown = sorted(set(request.query_params) - self.known_query_parameters())
        if unknown:
            allowed = ", ".join(sorted(self.known_query_parameters()))
            raise serializers.ValidationError(
                {name: [f"Unknown query parameter. This endpoint takes: {allowed}."] for name in unknown}
            )


def requested_fields(request, available) -> list[str] | None:
    """The top-level keys named by `fields=` (comma-separated, may repeat), or None without the parameter.

    400 when it names no key or an unknown one."""
    values = request.query_params.getlist("fields")
    if not values:
        return None
    names = list(dict.fromkeys(name.strip() for value in values for name in value.split(",") if name.strip()))
    if not names:
        raise serializers.ValidationError({"fields": ["Name at least one field, e.g. fields=id,title."]})
    unknown = [name for name in names if name not in available]
    if unknown:
        raise serializers.ValidationError(
            {"fields": [f"Unknown field(s): {', '.join(unknown)}. The fields are: {', '.join(available)}."]}
        )
    return names
