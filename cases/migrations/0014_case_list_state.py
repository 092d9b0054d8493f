"""The case list's state (CaseListState): a table, and on PostgreSQL the statement-level triggers that keep it
(one upsert per status a statement touches, with the rows it touched: a bulk update or COPY costs one, not one per
row), filled from the cases there are."""

from django.db import migrations, models

FUNCTION = """
CREATE OR REPLACE FUNCTION cases_case_list_state() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO cases_caseliststate (status, cases, changes)
            SELECT status, count(*), count(*) FROM new_rows GROUP BY status ORDER BY status
        ON CONFLICT (status) DO UPDATE SET cases = cases_caseliststate.cases + EXCLUDED.cases,
                                           changes = cases_caseliststate.changes + EXCLUDED.changes;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO cases_caseliststate (status, cases, changes)
            SELECT status, -count(*), count(*) FROM old_rows GROUP BY status ORDER BY status
        ON CONFLICT (status) DO UPDATE SET cases = cases_caseliststate.cases + EXCLUDED.cases,
                                           changes = cases_caseliststate.changes + EXCLUDED.changes;
    ELSE
        INSERT INTO cases_caseliststate (status, cases, changes)
            SELECT status, sum(d), count(*) FROM (
                SELECT status, 1 AS d FROM new_rows UNION ALL SELECT status, -1 AS d FROM old_rows
            ) AS touched GROUP BY status ORDER BY status
        ON CONFLICT (status) DO UPDATE SET cases = cases_caseliststate.cases + EXCLUDED.cases,
                                           changes = cases_caseliststate.changes + EXCLUDED.changes;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER cases_case_list_state_insert AFTER INSERT ON cases_case
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cases_case_list_state();
CREATE TRIGGER cases_case_list_state_update AFTER UPDATE ON cases_case
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cases_case_list_state();
CREATE TRIGGER cases_case_list_state_delete AFTER DELETE ON cases_case
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION cases_case_list_state();
INSERT INTO cases_caseliststate (status, cases, changes)
    SELECT status, count(*), count(*) FROM cases_case GROUP BY status;
"""

DROP = """
DROP TRIGGER IF EXISTS cases_case_list_state_insert ON cases_case;
DROP TRIGGER IF EXISTS cases_case_list_state_update ON cases_case;
DROP TRIGGER IF EXISTS cases_case_list_state_delete ON cases_case;
DROP FUNCTION IF EXISTS cases_case_list_state();
"""


def triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FUNCTION, params=None)  # several statements: no parameters


def drop_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("cases", "0013_analyte_table")]

    operations = [
        migrations.CreateModel(
            name="CaseListState",
            fields=[
                ("status", models.CharField(max_length=16, primary_key=True, serialize=False)),
                ("cases", models.BigIntegerField(default=0)),
                ("changes", models.BigIntegerField(default=0)),
            ],
            options={"verbose_name": "case list state"},
        ),
        migrations.RunPython(triggers, drop_triggers),
    ]
