"""Create the curation roles as groups: curator, reviewer, analyst."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

CASE_MODELS = ["case", "tumor", "metastasis", "mechanism", "finding", "labresult", "intervention"]
REFERENCE_MODELS = ["source", "agent"]


def perms(actions, models):
    return [f"{action}_{model}" for model in models for action in actions]


ROLES = {
    "curator": perms(["add", "change", "delete", "view"], CASE_MODELS)
    + perms(["add", "change", "view"], REFERENCE_MODELS)
    + ["submit_case"],
    "reviewer": perms(["add", "change", "delete", "view"], CASE_MODELS)
    + perms(["add", "change", "view"], REFERENCE_MODELS)
    + ["submit_case", "publish_case"],
    "analyst": perms(["view"], CASE_MODELS + REFERENCE_MODELS),
}


def create_roles(apps, schema_editor):
    # Permissions are normally created after all migrations; make sure they exist now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        found = Permission.objects.filter(content_type__app_label="cases", codename__in=codenames)
        missing = set(codenames) - set(found.values_list("codename", flat=True))
        if missing:
            raise RuntimeError(f"permissions not found for role {name}: {sorted(missing)}")
        group.permissions.set(found)


def delete_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, delete_roles)]
