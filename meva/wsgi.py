from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

from meva.startup import settings_or_exit

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "meva.settings")
settings_or_exit()
application = get_wsgi_application()
