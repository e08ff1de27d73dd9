#!/bin/sh
# remove keeps the state (checkpoints, queue) and the configuration: a reinstall resumes where
# the collector stopped. purge (deb) deletes both; the system user stays (Debian policy).
set -e
case "$1" in
	purge)
		rm -rf /var/lib/otelcol-msgtrace /etc/otelcol-msgtrace
		;;
esac
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
fi
