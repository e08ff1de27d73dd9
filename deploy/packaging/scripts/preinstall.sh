#!/bin/sh
# The otelcol-msgtrace system user and group exist before the files owned by them are unpacked.
set -e
if ! getent passwd otelcol-msgtrace >/dev/null; then
	if command -v systemd-sysusers >/dev/null; then
		echo 'u otelcol-msgtrace - "otelcol-msgtrace collector" /var/lib/otelcol-msgtrace /usr/sbin/nologin' | systemd-sysusers -
	else
		useradd --system --user-group --home-dir /var/lib/otelcol-msgtrace --no-create-home \
			--shell /usr/sbin/nologin --comment "otelcol-msgtrace collector" otelcol-msgtrace
	fi
fi
