# /etc/cron.d/mailer: housekeeping for the mailer queue (delivery itself is mailer.service).
MAILER_CONFIG=/etc/mailer/mailer.toml
0,20,40 * * * * mailer [ -x /usr/bin/mailer ] && /usr/bin/mailer retry-deferred >/dev/null
17      3 * * * mailer [ -x /usr/bin/mailer ] && /usr/bin/mailer purge-mail-log 7 >/dev/null
