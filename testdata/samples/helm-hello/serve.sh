#!/bin/sh
# busybox httpd serves /srv/www in the foreground.
exec httpd -f -p "${PORT:-8080}" -h /srv/www
