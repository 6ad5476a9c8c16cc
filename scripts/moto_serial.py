"""moto's S3 server answering one request at a time, for scripts/s3.

`moto_server` always runs threaded, and moto checks a conditional write (If-Match, If-None-Match)
and then stores the object as two steps without a lock: under concurrent writers several can pass
the check (seen with 50 writers of 1 MiB and more). Real S3 and the S3-compatible servers decide
conditional writes atomically, and the registry's compare-and-swap relies on it; served one
request at a time, moto does too. This is moto_server's own application (moto 5.2, pinned in
scripts/s3-requirements.txt) with threading off.

    python scripts/moto_serial.py 127.0.0.1 55434
"""

import os
import sys

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple

host, port = sys.argv[1], int(sys.argv[2])
os.environ.setdefault("MOTO_PORT", str(port))
run_simple(
    host,
    port,
    DomainDispatcherApplication(create_backend_app),
    threaded=False,
    request_handler=MotoRequestHandler,
)
