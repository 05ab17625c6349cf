#!/bin/sh
# Container entry point: render the configuration from the environment into
# /etc/asterisk, then run Asterisk in the foreground (its console log is the
# container's log). The source files are mounted read-only at /callproof/asterisk.
set -eu
sh /callproof/asterisk/render.sh /callproof/asterisk /etc/asterisk
exec /usr/sbin/asterisk -f -T -vvv
