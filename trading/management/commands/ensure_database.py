"""``manage.py ensure_database``: create the PostgreSQL database ``DATABASE_URL`` names if it
does not exist (through the server's ``postgres`` maintenance database, same credentials).
SQLite files are created on first use: nothing to do. ``make stack`` runs it first."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Create DATABASE_URL's PostgreSQL database if it is missing (SQLite: nothing to do)."

    def handle(self, *args, **options) -> None:
        config = settings.DATABASES["default"]
        if not config["ENGINE"].endswith("postgresql"):
            self.stdout.write(f"{config['ENGINE']}: nothing to create")
            return
        import psycopg
        from psycopg import sql

        name = config["NAME"]
        params = {
            "dbname": "postgres",
            "host": config.get("HOST") or None,
            "port": config.get("PORT") or None,
            "user": config.get("USER") or None,
            "password": config.get("PASSWORD") or None,
            "connect_timeout": 10,
        }
        try:
            with psycopg.connect(**{k: v for k, v in params.items() if v}, autocommit=True) as c:
                if c.execute("select 1 from pg_database where datname = %s", (name,)).fetchone():
                    self.stdout.write(f"database {name} exists")
                    return
                c.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
        except psycopg.Error as exc:
            raise CommandError(f"DATABASE_URL: cannot create database {name!r}: {exc}") from None
        self.stdout.write(f"database {name} created")
