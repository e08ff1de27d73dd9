#!/bin/sh
# Install: the unit is known to systemd but neither enabled nor started (the configuration is
# a placeholder until the user edits it; README, "Install"). Upgrade (deb: configure with the
# old version; rpm: $1 >= 2): restart the service only if it runs.
set -e
upgrade=
case "$1" in
	configure) [ -n "$2" ] && upgrade=1 ;;
	[0-9]*) [ "$1" -ge 2 ] && upgrade=1 ;;
esac
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
	if [ -n "$upgrade" ]; then
		systemctl try-restart otelcol-msgtrace.service || true
	fi
fi
if [ -z "$upgrade" ]; then
	echo "otelcol-msgtrace: set O365_CLIENT_SECRET in /etc/otelcol-msgtrace/env, edit /etc/otelcol-msgtrace/config.yaml, then: systemctl enable --now otelcol-msgtrace"
fi
