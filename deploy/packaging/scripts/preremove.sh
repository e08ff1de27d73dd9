#!/bin/sh
# Removal (not an upgrade: deb "remove", rpm $1 = 0): stop and disable the service first.
set -e
case "$1" in
	remove|0)
		if [ -d /run/systemd/system ]; then
			systemctl disable --now otelcol-msgtrace.service || true
		fi
		;;
esac
