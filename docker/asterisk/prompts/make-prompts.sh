#!/bin/sh
# Re-make the prompts Asterisk plays (committed, so nobody needs these tools
# to run the compose). Asterisk's format_wav reads 8 kHz mono 16-bit WAV.
#   callproof-menu.wav  the IVR menu (extension 600) and the prompt extension (501)
#   callproof-hold.wav  music on hold while a caller waits in the queue
# Needs espeak-ng and sox (Debian packages of the same names).
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
say() {
  espeak-ng -v en-us -s 150 -w "$tmp/$1.raw.wav" "$2"
  sox "$tmp/$1.raw.wav" -r 8000 -c 1 -b 16 -e signed-integer "$1.wav"
}
say callproof-menu "Welcome to callproof. For an agent, press 1. For the echo test, press 2."
say callproof-hold "Please hold. An agent will answer shortly."
