# Sourced by .ci/run: makes sure a real SMTP server listens on loopback for
# the directory's SMTP sender test, and exports
#   SEALPOST_TEST_SMTP          smtp://127.0.0.1:2525?tls=none
#   SEALPOST_TEST_SMTP_MAILDIR  the Maildir where it stores what it receives
# The server is Debian's python3-aiosmtpd with its Mailbox handler; it is
# left running after .ci/run ends (a later run reuses it).

sealpost_smtp_setup() {
  local port=2525 root=/var/tmp/sealpost-smtp
  local py=/usr/bin/python3
  if ! "$py" -c 'import aiosmtpd' >/dev/null 2>&1; then
    echo "smtp.sh: installing python3-aiosmtpd"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-aiosmtpd >/dev/null || return 1
  fi
  mkdir -p "$root/maildir/tmp" "$root/maildir/new" "$root/maildir/cur"
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    setsid nohup "$py" -m aiosmtpd -n -l "127.0.0.1:$port" -c aiosmtpd.handlers.Mailbox "$root/maildir" \
      >"$root/server.log" 2>&1 </dev/null &
    local i
    for i in $(seq 1 60); do
      (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
      sleep 0.25
    done
  fi
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "smtp.sh: the SMTP server did not start; see $root/server.log" >&2
    return 1
  fi
  export SEALPOST_TEST_SMTP="smtp://127.0.0.1:$port?tls=none"
  export SEALPOST_TEST_SMTP_MAILDIR="$root/maildir"
  echo "smtp.sh: SEALPOST_TEST_SMTP=$SEALPOST_TEST_SMTP SEALPOST_TEST_SMTP_MAILDIR=$SEALPOST_TEST_SMTP_MAILDIR"
}
sealpost_smtp_setup || { echo "smtp.sh: setup failed" >&2; return 1 2>/dev/null || exit 1; }
