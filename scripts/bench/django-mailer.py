#!/usr/bin/python3
# django-mailer, run in the bench beside mailer so that issue 18's targets taken from django-mailer
# (bulk enqueue, peak RSS, runmailer_pg latency, idle cost) are measured on the same machine in the
# same run instead of copied from another one. The bench's django step (steps/django.ts) drives it.
#
# It needs Django, lockfile and psycopg2 (Debian: python3-django python3-lockfile python3-psycopg2,
# hence /usr/bin/python3) and a django-mailer source tree: its src/ directory is put on sys.path.
# Django is configured in-process (DEBUG off, no other app), as a project using django-mailer's
# defaults would be. One JSON argument:
#
#   /usr/bin/python3 scripts/bench/django-mailer.py '{"src": "/path/django-mailer", "db": "sqlite:/tmp/x.db"
#       | "postgres://user@host:port/name", "smtp": ["127.0.0.1", 2525], "lock": "/tmp/x/send_mail",
#       "cmd": "migrate" | "bulk" | "single" | "fill" | "insert" | "manage", ...}'
#
#   bulk   {"count"}: compose `count` messages (make_message) and bulk_create them in one transaction,
#          timed together; prints {"count", "ms", "rate"}.
#   single {"count"}: mailer.send_mail() once per message (one commit each), each call timed; prints
#          {"count", "ms", "rate", "p50", "p99"}.
#   fill   {"count", "tag"}: queue the bench's messages (messages.ts: same fields, Message-ID and Date),
#          untimed, for a drain.
#   insert {"count", "gapMs", "tag"}: the latency inserter (latency-inserter.ts) for django-mailer's
#          table: plain-SQL INSERTs of pickled messages made beforehand, autocommit, one JSON line per
#          message: {"messageId", "committedAt"} (wall-clock ms). PostgreSQL only.
#   manage {"argv"}: a management command (send_mail, runmailer_pg), as `manage.py` would run it.
import json
import os
import sys
import time
from urllib.parse import unquote, urlparse

args = json.loads(sys.argv[1])
sys.path.insert(0, os.path.join(args["src"], "src"))

import django  # noqa: E402
from django.conf import settings  # noqa: E402


def database(url):
    if url.startswith("sqlite:"):
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": url[len("sqlite:"):]}
    u = urlparse(url)
    if u.scheme not in ("postgres", "postgresql"):
        raise SystemExit(f"django-mailer.py: unsupported database URL {url!r} (sqlite: or postgres://)")
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": u.path.lstrip("/"),
        "USER": unquote(u.username or ""),
        "PASSWORD": unquote(u.password or ""),
        "HOST": u.hostname or "",
        "PORT": str(u.port or ""),
    }


settings.configure(
    DEBUG=False,
    USE_TZ=True,
    INSTALLED_APPS=["mailer"],
    DATABASES={"default": database(args["db"])},
    DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
    EMAIL_HOST=args["smtp"][0],
    EMAIL_PORT=args["smtp"][1],
    MAILER_LOCK_PATH=args["lock"],
    MAILER_EMPTY_QUEUE_SLEEP=30,
    LOGGING_CONFIG=None,
)
django.setup()

# The bench's message (messages.ts benchMessage): about 1 KiB of plain text.
FROM = "Bench Sender <bench-sender@example.test>"
DATE = "Mon, 30 Nov 2026 01:54:26 +0000"
BODY = "\r\n".join(
    f"Line {i + 1:02d} of a typical transactional message body, wrapped well inside 78 columns." for i in range(12)
)


def recipient(i):
    return f"user{i % 1000}@example.test"


def bench_email(i, tag):
    from django.core.mail import EmailMessage

    headers = {"Message-ID": f"<{tag}.{i}@bench.example.test>", "Date": DATE}
    return EmailMessage(f"{tag} message {i}", BODY, FROM, [recipient(i)], headers=headers)


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def emit(figure):
    sys.stdout.write(json.dumps(figure) + "\n")
    sys.stdout.flush()


cmd = args["cmd"]
if cmd == "migrate":
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
elif cmd == "bulk":
    from django.db import transaction
    from mailer.models import PRIORITY_MEDIUM, Message, make_message

    count = args["count"]
    started = time.perf_counter()
    with transaction.atomic():
        Message.objects.bulk_create(
            make_message(f"composed message {i}", BODY, FROM, [recipient(i)], priority=PRIORITY_MEDIUM)
            for i in range(count)
        )
    ms = (time.perf_counter() - started) * 1000
    emit({"count": count, "ms": ms, "rate": count / (ms / 1000)})
elif cmd == "single":
    import mailer

    count = args["count"]
    calls = []
    started = time.perf_counter()
    for i in range(count):
        at = time.perf_counter()
        mailer.send_mail(f"composed message {i}", BODY, FROM, [recipient(i)])
        calls.append((time.perf_counter() - at) * 1000)
    ms = (time.perf_counter() - started) * 1000
    emit({"count": count, "ms": ms, "rate": count / (ms / 1000), "p50": percentile(calls, 50), "p99": percentile(calls, 99)})
elif cmd == "fill":
    from django.db import transaction
    from mailer.models import PRIORITY_MEDIUM, Message, make_message

    with transaction.atomic():
        messages = []
        for i in range(args["count"]):
            email = bench_email(i, args["tag"])
            message = make_message(priority=PRIORITY_MEDIUM)
            message.email = email
            messages.append(message)
        Message.objects.bulk_create(messages)
elif cmd == "insert":
    from django.db import connection
    from mailer.models import PRIORITY_MEDIUM, Message, email_to_db

    # Made beforehand, so that the timed loop is the application's INSERT and COMMIT only.
    rows = [(email_to_db(bench_email(i, args["tag"])), f"<{args['tag']}.{i}@bench.example.test>") for i in range(args["count"])]
    connection.ensure_connection()
    raw = connection.connection
    raw.autocommit = True
    table = Message._meta.db_table
    with raw.cursor() as cursor:
        for data, message_id in rows:
            cursor.execute(
                f"insert into {table} (message_data, when_added, priority, retry_count) values (%s, now(), %s, 0)",
                (data, PRIORITY_MEDIUM),
            )
            emit({"messageId": message_id, "committedAt": time.time_ns() / 1e6})
            time.sleep(args["gapMs"] / 1000)
elif cmd == "manage":
    from django.core.management import execute_from_command_line

    execute_from_command_line(["django-mailer", *args["argv"]])
else:
    raise SystemExit(f"django-mailer.py: unknown cmd {cmd!r}")
