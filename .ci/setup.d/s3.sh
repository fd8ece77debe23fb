# Sourced by .ci/run: makes sure an S3-compatible server answers on
# loopback for the blob store's S3 backend tests, and exports
#   SEALPOST_TEST_S3   s3://ACCESS:SECRET@127.0.0.1:7171/sealpost-test?tls=false
# The server is versitygw (Apache-2.0), built through the Go module proxy,
# with its POSIX backend in /var/tmp/sealpost-s3/data; it is left running
# after .ci/run ends, and a later run reuses it (and the binary).

sealpost_s3_setup() {
  local version=v1.8.0 port=7171 root=/var/tmp/sealpost-s3 bucket=sealpost-test
  local access=sealpostci secret=sealpost-ci-secret-0123456789
  local bin
  bin="$(go env GOPATH)/bin/versitygw"
  if [ -n "$(go env GOBIN)" ]; then bin="$(go env GOBIN)/versitygw"; fi
  if [ ! -x "$bin" ] || ! go version -m "$bin" 2>/dev/null | grep -q "github.com/versity/versitygw[[:space:]]*$version"; then
    echo "s3.sh: installing versitygw $version"
    (cd /tmp && GOFLAGS= go install "github.com/versity/versitygw/cmd/versitygw@$version") || return 1
  fi
  mkdir -p "$root/data/$bucket"
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    setsid nohup "$bin" --access "$access" --secret "$secret" --port "127.0.0.1:$port" --quiet \
      posix "$root/data" >"$root/server.log" 2>&1 </dev/null &
    local i
    for i in $(seq 1 100); do
      (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
      sleep 0.1
    done
  fi
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "s3.sh: versitygw did not start; see $root/server.log" >&2
    return 1
  fi
  export SEALPOST_TEST_S3="s3://$access:$secret@127.0.0.1:$port/$bucket?tls=false"
  echo "s3.sh: SEALPOST_TEST_S3=s3://$access:...@127.0.0.1:$port/$bucket?tls=false"
}
sealpost_s3_setup || { echo "s3.sh: setup failed" >&2; return 1 2>/dev/null || exit 1; }
