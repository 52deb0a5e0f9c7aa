"""On PostgreSQL, refuse UPDATE and DELETE of audit events in the database itself.

The model and its queryset already refuse them; the trigger also stops raw SQL and any code
path that bypasses the ORM. SQLite keeps the ORM-level guard only.
"""

from __future__ import annotations

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION trading_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only (% refused)', TG_OP;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER trading_auditevent_append_only
    BEFORE UPDATE OR DELETE ON trading_auditevent
    FOR EACH ROW EXECUTE FUNCTION trading_auditevent_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS trading_auditevent_append_only ON trading_auditevent;
DROP FUNCTION IF EXISTS trading_auditevent_append_only();
"""


def _on_postgres(sql: str):
    def run(apps, schema_editor) -> None:
        if schema_editor.connection.vendor == "postgresql":
            # params=None: the SQL is sent as is (its '%' is PL/pgSQL's, not a placeholder)
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("trading", "0002_accounts_market_paper_audit")]

    operations = [migrations.RunPython(_on_postgres(CREATE), _on_postgres(DROP))]
