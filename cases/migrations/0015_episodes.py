"""Issue 13: a case holds one or more calcium-disorder episodes. Every existing case becomes one episode (its disorder
and calcium outcome, starting at position 1), each of its mechanisms that episode's, and the history says so: a
"+" record per episode, and the mechanisms' historical records point at their episode. Then a mechanism is
unique per episode instead of per case."""

import django.core.validators
import django.db.models.deletion
import simple_history.models
from django.conf import settings
from django.db import migrations, models


REASON = "One episode per case (migration 0014)"


def one_episode_per_case(apps, schema_editor):
    from django.db.models import OuterRef, Subquery
    from django.utils import timezone

    Case = apps.get_model("cases", "Case")
    Episode = apps.get_model("cases", "Episode")
    HistoricalEpisode = apps.get_model("cases", "HistoricalEpisode")
    Mechanism = apps.get_model("cases", "Mechanism")
    HistoricalMechanism = apps.get_model("cases", "HistoricalMechanism")
    db = schema_editor.connection.alias
    now = timezone.now()
    cases = list(Case.objects.using(db).order_by("pk").values_list("pk", "disorder", "calcium_outcome", "created_at"))
    episodes = Episode.objects.using(db).bulk_create(
        Episode(case_id=pk, disorder=disorder, calcium_outcome=outcome) for pk, disorder, outcome, _ in cases
    )
    if episodes and episodes[0].pk is None:  # a backend that does not return ids
        episodes = list(Episode.objects.using(db).order_by("case_id"))
    fields = [f.attname for f in Episode._meta.concrete_fields]
    # Dated when its case was created: the case had this episode all along (a revert to an earlier state keeps it).
    created = {pk: at for pk, _, _, at in cases}
    HistoricalEpisode.objects.using(db).bulk_create(
        (
            HistoricalEpisode(
                **{name: getattr(e, name) for name in fields},
                history_date=created[e.case_id] or now,
                history_type="+",
                history_change_reason=REASON,
            )
            for e in episodes
        ),
        batch_size=500,
    )
    # The stored `derived` blocks have no per-episode part yet: computed on read until `manage.py refresh_derived`.
    Case.objects.using(db).update(derived_json=None)
    # One UPDATE each (the mechanisms, then their historical records of rows that still exist).
    Mechanism.objects.using(db).update(
        episode_id=Subquery(Episode.objects.using(db).filter(case_id=OuterRef("case_id")).values("pk")[:1])
    )
    HistoricalMechanism.objects.using(db).update(
        episode_id=Subquery(Mechanism.objects.using(db).filter(pk=OuterRef("id")).values("episode_id")[:1])
    )


EPISODE_PERMISSIONS = {
    "curator": ["add", "change", "delete", "view"],
    "reviewer": ["add", "change", "delete", "view"],
    "analyst": ["view"],
}


def grant_episodes(apps, schema_editor):
    """The roles' permissions on the new rows, as on the other rows of a case (0002_roles, 0012)."""
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, actions in EPISODE_PERMISSIONS.items():
        group = Group.objects.filter(name=name).first()
        if group is not None:
            codenames = [f"{action}_episode" for action in actions]
            group.permissions.add(*Permission.objects.filter(content_type__app_label="cases", codename__in=codenames))


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0014_case_list_state"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Episode",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "sequence",
                    models.PositiveIntegerField(
                        default=1,
                        help_text="Position on the case timeline (1, 2, 3, ...). Items at the same position happened together. Keeps the order of events when day offsets are unknown.",
                        validators=[django.core.validators.MaxValueValidator(2147483647)],
                    ),
                ),
                (
                    "day",
                    models.IntegerField(
                        blank=True,
                        help_text="Days from the index event (day 0, the presentation with the calcium disorder); negative = before.",
                        null=True,
                        validators=[
                            django.core.validators.MinValueValidator(-43920),
                            django.core.validators.MaxValueValidator(43920),
                        ],
                    ),
                ),
                (
                    "day_is_approximate",
                    models.BooleanField(
                        default=False,
                        help_text="The day offset is an estimate from a phrase such as 'eight months after'.",
                    ),
                ),
                (
                    "timing_text",
                    models.CharField(
                        blank=True,
                        help_text="The source's own timing phrase, e.g. 'eight months after radioembolization'.",
                        max_length=300,
                    ),
                ),
                (
                    "quote",
                    models.TextField(blank=True, help_text="The verbatim words of the source this row is taken from."),
                ),
                (
                    "quote_start",
                    models.PositiveIntegerField(
                        blank=True, null=True, validators=[django.core.validators.MaxValueValidator(2147483647)]
                    ),
                ),
                (
                    "quote_end",
                    models.PositiveIntegerField(
                        blank=True, null=True, validators=[django.core.validators.MaxValueValidator(2147483647)]
                    ),
                ),
                (
                    "disorder",
                    models.CharField(
                        choices=[
                            ("hypercalcemia", "Hypercalcemia"),
                            ("hypocalcemia", "Hypocalcemia"),
                            ("soft_tissue_calcification", "Soft-tissue calcification"),
                        ],
                        max_length=32,
                    ),
                ),
                (
                    "calcium_outcome",
                    models.CharField(
                        choices=[
                            ("normalised", "Normalised"),
                            ("improved", "Improved, not normalised"),
                            ("persistent", "Persistent"),
                            ("worsened", "Worsened"),
                            ("not_applicable", "Not applicable (calcium normal throughout)"),
                            ("not_reported", "Not reported"),
                        ],
                        default="not_reported",
                        help_text="The curator's reading of how this episode's calcium disorder ended.",
                        max_length=16,
                    ),
                ),
                ("notes", models.TextField(blank=True)),
            ],
            options={
                "verbose_name": "calcium-disorder episode",
                "ordering": ["case", "sequence", "id"],
                "abstract": False,
            },
        ),
        migrations.CreateModel(
            name="HistoricalEpisode",
            fields=[
                ("id", models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name="ID")),
                (
                    "sequence",
                    models.PositiveIntegerField(
                        default=1,
                        help_text="Position on the case timeline (1, 2, 3, ...). Items at the same position happened together. Keeps the order of events when day offsets are unknown.",
                        validators=[django.core.validators.MaxValueValidator(2147483647)],
                    ),
                ),
                (
                    "day",
                    models.IntegerField(
                        blank=True,
                        help_text="Days from the index event (day 0, the presentation with the calcium disorder); negative = before.",
                        null=True,
                        validators=[
                            django.core.validators.MinValueValidator(-43920),
                            django.core.validators.MaxValueValidator(43920),
                        ],
                    ),
                ),
                (
                    "day_is_approximate",
                    models.BooleanField(
                        default=False,
                        help_text="The day offset is an estimate from a phrase such as 'eight months after'.",
                    ),
                ),
                (
                    "timing_text",
                    models.CharField(
                        blank=True,
                        help_text="The source's own timing phrase, e.g. 'eight months after radioembolization'.",
                        max_length=300,
                    ),
                ),
                (
                    "quote",
                    models.TextField(blank=True, help_text="The verbatim words of the source this row is taken from."),
                ),
                (
                    "quote_start",
                    models.PositiveIntegerField(
                        blank=True, null=True, validators=[django.core.validators.MaxValueValidator(2147483647)]
                    ),
                ),
                (
                    "quote_end",
                    models.PositiveIntegerField(
                        blank=True, null=True, validators=[django.core.validators.MaxValueValidator(2147483647)]
                    ),
                ),
                (
                    "disorder",
                    models.CharField(
                        choices=[
                            ("hypercalcemia", "Hypercalcemia"),
                            ("hypocalcemia", "Hypocalcemia"),
                            ("soft_tissue_calcification", "Soft-tissue calcification"),
                        ],
                        max_length=32,
                    ),
                ),
                (
                    "calcium_outcome",
                    models.CharField(
                        choices=[
                            ("normalised", "Normalised"),
                            ("improved", "Improved, not normalised"),
                            ("persistent", "Persistent"),
                            ("worsened", "Worsened"),
                            ("not_applicable", "Not applicable (calcium normal throughout)"),
                            ("not_reported", "Not reported"),
                        ],
                        default="not_reported",
                        help_text="The curator's reading of how this episode's calcium disorder ended.",
                        max_length=16,
                    ),
                ),
                ("notes", models.TextField(blank=True)),
                ("history_id", models.AutoField(primary_key=True, serialize=False)),
                ("history_date", models.DateTimeField(db_index=True)),
                ("history_change_reason", models.CharField(max_length=100, null=True)),
                (
                    "history_type",
                    models.CharField(choices=[("+", "Created"), ("~", "Changed"), ("-", "Deleted")], max_length=1),
                ),
            ],
            options={
                "verbose_name": "historical calcium-disorder episode",
                "verbose_name_plural": "historical calcium-disorder episodes",
                "ordering": ("-history_date", "-history_id"),
                "get_latest_by": ("history_date", "history_id"),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.RemoveConstraint(
            model_name="mechanism",
            name="mechanism_once_per_case",
        ),
        migrations.AddField(
            model_name="episode",
            name="case",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE, related_name="episodes", to="cases.case"
            ),
        ),
        migrations.AddField(
            model_name="historicalmechanism",
            name="episode",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                help_text="The calcium-disorder episode of the case this mechanism explains.",
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="cases.episode",
            ),
        ),
        migrations.AddField(
            model_name="mechanism",
            name="episode",
            field=models.ForeignKey(
                help_text="The calcium-disorder episode of the case this mechanism explains.",
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="mechanisms",
                to="cases.episode",
            ),
        ),
        migrations.AddConstraint(
            model_name="mechanism",
            constraint=models.UniqueConstraint(
                fields=("episode", "code"),
                name="mechanism_once_per_episode",
                violation_error_message="A mechanism can be recorded once per episode.",
            ),
        ),
        migrations.AddField(
            model_name="historicalepisode",
            name="case",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="cases.case",
            ),
        ),
        migrations.AddField(
            model_name="historicalepisode",
            name="history_user",
            field=models.ForeignKey(
                null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+", to=settings.AUTH_USER_MODEL
            ),
        ),
        migrations.AddConstraint(
            model_name="episode",
            constraint=models.CheckConstraint(
                condition=models.Q(("day__isnull", False), ("day_is_approximate", False), _connector="OR"),
                name="episode_approximate_needs_day",
                violation_error_message="Only a day offset can be approximate: enter the estimated day.",
            ),
        ),
        migrations.AddConstraint(
            model_name="episode",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("quote_start__isnull", True), ("quote_end__isnull", True)),
                    models.Q(
                        ("quote_start__isnull", False),
                        ("quote_end__isnull", False),
                        ("quote_end__gt", models.F("quote_start")),
                    ),
                    _connector="OR",
                ),
                name="episode_quote_offsets_span",
                violation_error_message="A quote's offsets need a start and an end after it.",
            ),
        ),
        migrations.RunPython(one_episode_per_case, migrations.RunPython.noop),
        migrations.RunPython(grant_episodes, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="mechanism",
            name="episode",
            field=models.ForeignKey(
                blank=True, help_text="The calcium-disorder episode of the case this mechanism explains.",
                on_delete=django.db.models.deletion.CASCADE,
                related_name="mechanisms",
                to="cases.episode",
            ),
        ),
    ]
