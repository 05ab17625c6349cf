#!/bin/sh
# Render callproof's Asterisk configuration: every *.conf in SOURCE_DIR with
# ${CALLPROOF_*} replaced from the environment, plus the per-agent files.
#
#   render.sh SOURCE_DIR OUTPUT_DIR
#
# Variables and defaults (docs/ci-against-asterisk.md):
#   CALLPROOF_SIP_USER        caller            callers' endpoint and digest user
#   CALLPROOF_SIP_PASSWORD    callproof-caller  callers' digest password
#   CALLPROOF_AGENT_PASSWORD  callproof-agent   every agent's digest password
#   CALLPROOF_AGENT_COUNT     4                 agents agent1..N in the queue
#
# Plain POSIX sh, sed and awk: the pinned Asterisk image has no envsubst, and
# the project's tests run this same script natively.
set -eu

if [ $# -ne 2 ]; then
  echo "usage: render.sh SOURCE_DIR OUTPUT_DIR" >&2
  exit 2
fi
source_dir=$1
output_dir=$2

: "${CALLPROOF_SIP_USER:=caller}"
: "${CALLPROOF_SIP_PASSWORD:=callproof-caller}"
: "${CALLPROOF_AGENT_PASSWORD:=callproof-agent}"
: "${CALLPROOF_AGENT_COUNT:=4}"
export CALLPROOF_SIP_USER CALLPROOF_SIP_PASSWORD CALLPROOF_AGENT_PASSWORD CALLPROOF_AGENT_COUNT

fail() {
  echo "render.sh: $1" >&2
  exit 2
}

# The user names a section and an endpoint; passwords go into `key = value`
# lines, where ";" would start a comment.
case $CALLPROOF_SIP_USER in
  *[!A-Za-z0-9_.-]*) fail "CALLPROOF_SIP_USER may hold only letters, digits, '_', '.' and '-'" ;;
  probe) fail "CALLPROOF_SIP_USER may not be probe (the probes' endpoint)" ;;
esac
for name in CALLPROOF_SIP_PASSWORD CALLPROOF_AGENT_PASSWORD; do
  eval "value=\$$name"
  case $value in
    *\;* | *"
"*) fail "$name may not contain ';' or a newline" ;;
  esac
done
case $CALLPROOF_AGENT_COUNT in
  '' | *[!0-9]*) fail "CALLPROOF_AGENT_COUNT must be a whole number from 1 to 200" ;;
esac
if [ "$CALLPROOF_AGENT_COUNT" -lt 1 ] || [ "$CALLPROOF_AGENT_COUNT" -gt 200 ]; then
  fail "CALLPROOF_AGENT_COUNT must be a whole number from 1 to 200"
fi

mkdir -p "$output_dir"
for template in "$source_dir"/*.conf; do
  # Literal replacement with index/substr: how gsub treats "\\" and "&" in its replacement
  # text differs between awks (mawk 1.3.4 of Debian 12 and of Debian 13 disagree).
  awk '
    function replace_all(text, placeholder, value,    out, at) {
      out = ""
      while ((at = index(text, placeholder)) > 0) {
        out = out substr(text, 1, at - 1) value
        text = substr(text, at + length(placeholder))
      }
      return out text
    }
    BEGIN { split("CALLPROOF_SIP_USER CALLPROOF_SIP_PASSWORD CALLPROOF_AGENT_PASSWORD", names, " ") }
    {
      line = $0
      for (i in names) line = replace_all(line, "${" names[i] "}", ENVIRON[names[i]])
      print line
    }
  ' "$template" > "$output_dir/$(basename "$template")"
done
if grep -n '\${CALLPROOF_[A-Z_]*}' "$output_dir"/*.conf >&2; then
  fail "unknown \${CALLPROOF_...} placeholder left in the files above"
fi

agents=$output_dir/pjsip_agents.conf
members=$output_dir/queue_members.conf
echo "; Written by render.sh: CALLPROOF_AGENT_COUNT=$CALLPROOF_AGENT_COUNT agents." > "$agents"
printf '; Written by render.sh: the agents in queue support.\n\n[support](+)\n' > "$members"
n=1
while [ "$n" -le "$CALLPROOF_AGENT_COUNT" ]; do
  printf '\n[agent%d](agent-endpoint)\nauth = agent%d-auth\naors = agent%d\n' "$n" "$n" "$n" >> "$agents"
  printf '\n[agent%d-auth](agent-auth)\nusername = agent%d\n' "$n" "$n" >> "$agents"
  printf '\n[agent%d](agent-aor)\n' "$n" >> "$agents"
  printf 'member => PJSIP/agent%d\n' "$n" >> "$members"
  n=$((n + 1))
done
