"""`manage.py benchmark`: the real system (gunicorn, the django-q2 lanes, the configured database
and broker, an SMTP server) measured against the same machine's raw SMTP limit.

Modules: `sink` (the SMTP servers that accept and timestamp what is sent), `raw` (the raw limit:
pre-built messages over smtplib, and the sink's own ceiling), `http` (the load generator),
`services` (starting web server and lanes), `dataset` (the benchmark's own event, streams,
contacts and credential), `stats`, `modes` (what each `--mode` measures).
"""
