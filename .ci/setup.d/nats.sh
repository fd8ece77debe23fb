# Sourced by .ci/run: makes sure a current nats-server (v2.15.2, built from
# the Go module proxy; never Debian's 2.9 package, which serves 4222 on
# these machines) runs on 127.0.0.1:14222 with JetStream, file storage in a
# directory of its own under /tmp and sync_interval: always, and exports
#   SEALPOST_TEST_NATS         nats://127.0.0.1:14222
#   SEALPOST_TEST_NATS_SERVER  the binary (tests that kill and restart a
#                              server of their own start it)
# The binary is cached in ${XDG_CACHE_HOME:-~/.cache}/sealpost/nats-server-v2.15.2
# (the first build takes about 2 minutes); the server is left running after
# .ci/run ends, and a later run reuses it. SEALPOST_NATS_PORT overrides the
# port.

sealpost_nats_setup() {
  local version=v2.15.2
  local port="${SEALPOST_NATS_PORT:-14222}"
  local bindir="${XDG_CACHE_HOME:-$HOME/.cache}/sealpost/nats-server-$version"
  local bin="$bindir/nats-server"
  local root="${TMPDIR:-/tmp}/sealpost-nats-$port"

  if ! "$bin" --version 2>/dev/null | grep -qx "nats-server: $version"; then
    echo "nats.sh: building nats-server $version into $bindir"
    mkdir -p "$bindir" || return 1
    GOFLAGS= GOBIN="$bindir" go install "github.com/nats-io/nats-server/v2@$version" || return 1
    "$bin" --version | grep -qx "nats-server: $version" || { echo "nats.sh: $bin is not $version" >&2; return 1; }
  fi

  # Is our server already up? (Ours: its pid file names a live process
  # running this binary, and the port answers with a JetStream server.)
  local pid=
  [ -f "$root/server.pid" ] && pid=$(cat "$root/server.pid" 2>/dev/null)
  if [ -n "$pid" ] && [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$(readlink -f "$bin")" ] &&
    sealpost_nats_info "$port" | grep -q '"jetstream":true'; then
    :
  else
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "nats.sh: 127.0.0.1:$port is taken by another process; set SEALPOST_NATS_PORT" >&2
      return 1
    fi
    mkdir -p "$root/store" || return 1
    cat >"$root/nats.conf" <<EOF
# written by .ci/setup.d/nats.sh
listen: 127.0.0.1:$port
server_name: sealpost_test
pid_file: "$root/server.pid"
jetstream {
  store_dir: "$root/store"
  # Every write is synced before its PubAck: an acknowledged enqueue
  # survives a crash of the server (and of the machine).
  sync_interval: always
}
EOF
    setsid nohup "$bin" -c "$root/nats.conf" >"$root/server.log" 2>&1 </dev/null &
    local i
    for i in $(seq 1 100); do
      sealpost_nats_info "$port" | grep -q '"jetstream":true' && break
      sleep 0.1
    done
  fi
  if ! sealpost_nats_info "$port" | grep -q "\"version\":\"${version#v}\""; then
    echo "nats.sh: nats-server $version did not start on 127.0.0.1:$port; see $root/server.log" >&2
    return 1
  fi
  export SEALPOST_TEST_NATS="nats://127.0.0.1:$port"
  export SEALPOST_TEST_NATS_SERVER="$bin"
  echo "nats.sh: SEALPOST_TEST_NATS=$SEALPOST_TEST_NATS SEALPOST_TEST_NATS_SERVER=$SEALPOST_TEST_NATS_SERVER"
}

# sealpost_nats_info PORT prints the INFO line a NATS server greets with.
sealpost_nats_info() {
  (
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    IFS= read -r -t 2 line <&3 && printf '%s\n' "$line"
  ) 2>/dev/null
}

sealpost_nats_setup || { echo "nats.sh: setup failed" >&2; return 1 2>/dev/null || exit 1; }
