"""The analyte table: the analytes measures.py listed become rows (values identical), with potassium, sodium and
eGFR added (cases/analytes.py names the source of each fact). The two check constraints that were generated from the
Python list become clean() checks against the table (LabResult.clean), since the table is edited in the admin.
Every role may view the analytes; adding and changing them is for administrators (superusers)."""

from django.contrib.auth.management import create_permissions

import django.core.validators
import django.db.models.deletion
import simple_history.models
from decimal import Decimal
from django.conf import settings
from django.db import migrations, models


def seed_analytes(apps, schema_editor):
    from cases.analytes import seed

    seed(apps.get_model("cases", "Analyte"), apps.get_model("cases", "AnalyteLoinc"))


def unseed_analytes(apps, schema_editor):
    apps.get_model("cases", "Analyte").objects.all().delete()


def grant_analyte_view(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    view = Permission.objects.filter(content_type__app_label="cases", codename__in=["view_analyte", "view_analyteloinc"])
    for group in Group.objects.filter(name__in=["curator", "reviewer", "analyst"]):
        group.permissions.add(*view)


class Migration(migrations.Migration):

    dependencies = [
        ('cases', '0012_fidelity_links_steps_anchors'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='Analyte',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('code', models.CharField(help_text='Stored with each lab result and sent by the API; it cannot change once saved.', max_length=32, unique=True, validators=[django.core.validators.RegexValidator('^[a-z][a-z0-9_]*$', 'Use a snake_case code: lower-case letters, digits and _.')])),
                ('label', models.CharField(help_text="As shown to curators: 'Serum potassium'.", max_length=100, unique=True)),
                ('synonyms', models.TextField(blank=True, help_text="Other names case reports print, one per line ('K', 'K+'): proposals from a source text match them.")),
                ('conventional_unit', models.CharField(max_length=20, validators=[django.core.validators.RegexValidator('^[^,\\s](?:[^,]*[^,\\s])?$', 'A unit has no commas and no spaces at its ends.')])),
                ('si_unit', models.CharField(max_length=20, validators=[django.core.validators.RegexValidator('^[^,\\s](?:[^,]*[^,\\s])?$', 'A unit has no commas and no spaces at its ends.')], verbose_name='SI unit')),
                ('si_factor', models.DecimalField(decimal_places=6, help_text='SI value = conventional value x this factor (1 when both units are the same).', max_digits=14, validators=[django.core.validators.MinValueValidator(Decimal('0.000001'))], verbose_name='SI factor')),
                ('printed_units', models.CharField(blank=True, help_text='Units a source may print that are stored as printed and never converted, separated by commas (PTHrP in pg/mL: no factor is documented). They get no SI value, no range and no LOINC.', max_length=100)),
                ('plausible_max', models.DecimalField(blank=True, decimal_places=4, help_text='The largest number accepted, in the conventional unit (converted for the SI unit): a bound for typing and unit errors far above any value a patient can have, not a clinical threshold. Empty: no bound.', max_digits=12, null=True, validators=[django.core.validators.MinValueValidator(Decimal('0.0001'))])),
                ('sources', models.TextField(blank=True, help_text='Where the units, the factor and the codes come from (a named source for each).')),
                ('position', models.PositiveSmallIntegerField(blank=True, help_text='Order in lists and exports; empty: after the others.', null=True)),
            ],
            options={
                'ordering': ['position', 'id'],
            },
        ),
        migrations.CreateModel(
            name='AnalyteLoinc',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('code', models.CharField(max_length=10, validators=[django.core.validators.RegexValidator('^\\d{1,7}-\\d$', 'Enter a LOINC code such as 17861-6 (digits, a hyphen, a digit).')], verbose_name='LOINC code')),
                ('units', models.CharField(help_text="The units of the property the code names, separated by commas ('g/dL, g/L').", max_length=100)),
                ('specimens', models.CharField(blank=True, help_text='Where the code names a specimen: serum, plasma or blood, separated by commas. Empty: any.', max_length=60)),
                ('source', models.CharField(help_text='Where the code was confirmed (domain.md, a named LOINC or HL7 page): never guess.', max_length=300)),
                ('position', models.PositiveSmallIntegerField(default=0)),
            ],
            options={
                'verbose_name': 'LOINC code',
                'ordering': ['analyte', 'position', 'id'],
            },
        ),
        migrations.CreateModel(
            name='HistoricalAnalyte',
            fields=[
                ('id', models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name='ID')),
                ('code', models.CharField(db_index=True, help_text='Stored with each lab result and sent by the API; it cannot change once saved.', max_length=32, validators=[django.core.validators.RegexValidator('^[a-z][a-z0-9_]*$', 'Use a snake_case code: lower-case letters, digits and _.')])),
                ('label', models.CharField(db_index=True, help_text="As shown to curators: 'Serum potassium'.", max_length=100)),
                ('synonyms', models.TextField(blank=True, help_text="Other names case reports print, one per line ('K', 'K+'): proposals from a source text match them.")),
                ('conventional_unit', models.CharField(max_length=20, validators=[django.core.validators.RegexValidator('^[^,\\s](?:[^,]*[^,\\s])?$', 'A unit has no commas and no spaces at its ends.')])),
                ('si_unit', models.CharField(max_length=20, validators=[django.core.validators.RegexValidator('^[^,\\s](?:[^,]*[^,\\s])?$', 'A unit has no commas and no spaces at its ends.')], verbose_name='SI unit')),
                ('si_factor', models.DecimalField(decimal_places=6, help_text='SI value = conventional value x this factor (1 when both units are the same).', max_digits=14, validators=[django.core.validators.MinValueValidator(Decimal('0.000001'))], verbose_name='SI factor')),
                ('printed_units', models.CharField(blank=True, help_text='Units a source may print that are stored as printed and never converted, separated by commas (PTHrP in pg/mL: no factor is documented). They get no SI value, no range and no LOINC.', max_length=100)),
                ('plausible_max', models.DecimalField(blank=True, decimal_places=4, help_text='The largest number accepted, in the conventional unit (converted for the SI unit): a bound for typing and unit errors far above any value a patient can have, not a clinical threshold. Empty: no bound.', max_digits=12, null=True, validators=[django.core.validators.MinValueValidator(Decimal('0.0001'))])),
                ('sources', models.TextField(blank=True, help_text='Where the units, the factor and the codes come from (a named source for each).')),
                ('position', models.PositiveSmallIntegerField(blank=True, help_text='Order in lists and exports; empty: after the others.', null=True)),
                ('history_id', models.AutoField(primary_key=True, serialize=False)),
                ('history_date', models.DateTimeField(db_index=True)),
                ('history_change_reason', models.CharField(max_length=100, null=True)),
                ('history_type', models.CharField(choices=[('+', 'Created'), ('~', 'Changed'), ('-', 'Deleted')], max_length=1)),
            ],
            options={
                'verbose_name': 'historical analyte',
                'verbose_name_plural': 'historical analytes',
                'ordering': ('-history_date', '-history_id'),
                'get_latest_by': ('history_date', 'history_id'),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.CreateModel(
            name='HistoricalAnalyteLoinc',
            fields=[
                ('id', models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name='ID')),
                ('code', models.CharField(max_length=10, validators=[django.core.validators.RegexValidator('^\\d{1,7}-\\d$', 'Enter a LOINC code such as 17861-6 (digits, a hyphen, a digit).')], verbose_name='LOINC code')),
                ('units', models.CharField(help_text="The units of the property the code names, separated by commas ('g/dL, g/L').", max_length=100)),
                ('specimens', models.CharField(blank=True, help_text='Where the code names a specimen: serum, plasma or blood, separated by commas. Empty: any.', max_length=60)),
                ('source', models.CharField(help_text='Where the code was confirmed (domain.md, a named LOINC or HL7 page): never guess.', max_length=300)),
                ('position', models.PositiveSmallIntegerField(default=0)),
                ('history_id', models.AutoField(primary_key=True, serialize=False)),
                ('history_date', models.DateTimeField(db_index=True)),
                ('history_change_reason', models.CharField(max_length=100, null=True)),
                ('history_type', models.CharField(choices=[('+', 'Created'), ('~', 'Changed'), ('-', 'Deleted')], max_length=1)),
            ],
            options={
                'verbose_name': 'historical LOINC code',
                'verbose_name_plural': 'historical LOINC codes',
                'ordering': ('-history_date', '-history_id'),
                'get_latest_by': ('history_date', 'history_id'),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.RemoveConstraint(
            model_name='labresult',
            name='labresult_values_plausible',
        ),
        migrations.RemoveConstraint(
            model_name='labresult',
            name='labresult_unit_belongs_to_analyte',
        ),
        migrations.AlterField(
            model_name='historicallabresult',
            name='analyte',
            field=models.CharField(help_text='What was measured: a code of the analyte table.', max_length=32),
        ),
        migrations.AlterField(
            model_name='historicallabresult',
            name='unit',
            field=models.CharField(blank=True, help_text="As reported: one of the analyte's units.", max_length=20),
        ),
        migrations.AlterField(
            model_name='labresult',
            name='analyte',
            field=models.CharField(help_text='What was measured: a code of the analyte table.', max_length=32),
        ),
        migrations.AlterField(
            model_name='labresult',
            name='unit',
            field=models.CharField(blank=True, help_text="As reported: one of the analyte's units.", max_length=20),
        ),
        migrations.AddConstraint(
            model_name='analyte',
            constraint=models.CheckConstraint(condition=models.Q(('si_factor__gt', 0)), name='analyte_si_factor_positive', violation_error_message='The SI factor must be greater than zero.'),
        ),
        migrations.AddField(
            model_name='analyteloinc',
            name='analyte',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='loinc_codes', to='cases.analyte'),
        ),
        migrations.AddField(
            model_name='historicalanalyte',
            name='history_user',
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='historicalanalyteloinc',
            name='analyte',
            field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='cases.analyte'),
        ),
        migrations.AddField(
            model_name='historicalanalyteloinc',
            name='history_user',
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddConstraint(
            model_name='analyteloinc',
            constraint=models.UniqueConstraint(fields=('analyte', 'code'), name='analyteloinc_code_once', violation_error_message='The analyte has this LOINC code already.'),
        ),
        migrations.RunPython(seed_analytes, unseed_analytes),
        migrations.RunPython(grant_analyte_view, migrations.RunPython.noop),
    ]
