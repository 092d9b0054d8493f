"""The API's serializers are the case document's (cases.document): one shape for the API, the admin's JSON import
and export, and the interop exports. Here only what concerns the API's schema."""

from __future__ import annotations


def schema_nullable_objects(result: dict, generator, request, public) -> dict:
    """drf-spectacular postprocessing hook (SPECTACULAR_SETTINGS): documentation only.

    A nullable nested serializer comes out as {"allOf": [{"$ref": ...}], "nullable": true}. In OpenAPI 3.0.3
    `nullable` only widens a `type` in the same schema object, so strict validators refuse the null that the API
    really returns (derived.peak_calcium, labs[].si, ...). Offer null as an alternative of its own instead, the
    way drf-spectacular already documents nullable choices: {"oneOf": [{"$ref": ...}, NullEnum]}.
    """
    null = {"$ref": "#/components/schemas/NullEnum"}
    found = False

    def visit(node):
        nonlocal found
        if isinstance(node, dict):
            if node.get("nullable") is True and "type" not in node and len(node.get("allOf", ())) == 1:
                node["oneOf"] = [node.pop("allOf")[0], null]
                found = True
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for item in node:
                visit(item)

    visit(result.get("paths", {}))
    visit(result.get("components", {}))
    if found:
        result["components"].setdefault("schemas", {}).setdefault("NullEnum", {"enum": [None]})
    return result
