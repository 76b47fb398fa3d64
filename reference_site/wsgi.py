"""The WSGI entry point (gunicorn ``reference_site.wsgi:application``).

Each web worker serves one request at a time, and a site runs about one worker
per core. A BLAS that also starts a thread per core for the recommender's
small matrix products only makes the workers fight over the cores: with
OpenBLAS's default the HTTP feed benchmark served half the requests per second
(docs/BENCHMARKS.md). So the web process runs one BLAS thread unless told
otherwise; this must be set before numpy is first imported.
"""

import os

for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

from django.core.wsgi import get_wsgi_application  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reference_site.settings")
application = get_wsgi_application()
