"""``manage.py healthcheck web|worker|beat``: exit 0 when the process kind is healthy, 1 when
not, printing one line (container healthchecks and ``make stack`` use it)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from trading.services.process_health import beat_health, web_health, worker_health


class Command(BaseCommand):
    help = (
        "Health of one process kind: web (the health endpoint answers 200), worker (a Celery "
        "worker answers ping), beat (a beat heartbeat younger than --max-age). Exit 0 healthy, "
        "1 not."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("kind", choices=["web", "worker", "beat"])
        parser.add_argument(
            "--url", default="http://127.0.0.1:8000/api/v1/health/", help="web: health URL"
        )
        parser.add_argument("--timeout", type=float, default=5.0, help="seconds")
        parser.add_argument(
            "--max-age", type=float, default=60.0, help="beat: heartbeat age limit, seconds"
        )

    def handle(self, *args, **options) -> None:
        kind = options["kind"]
        if kind == "web":
            healthy, detail = web_health(options["url"], options["timeout"])
        elif kind == "worker":
            healthy, detail = worker_health(options["timeout"])
        else:
            healthy, detail = beat_health(options["max_age"])
        self.stdout.write(f"{kind}: {'healthy' if healthy else 'UNHEALTHY'}: {detail}")
        if not healthy:
            raise SystemExit(1)
