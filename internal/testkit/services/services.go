// Package services gives a test its own share of the external services
// that .ci/setup.d starts for CI: PostgreSQL (SEALPOST_TEST_POSTGRES),
// NATS JetStream (SEALPOST_TEST_NATS) and an S3-compatible server
// (SEALPOST_TEST_S3).
//
//	so := services.NewScaleOut(t, "cluster")
//	args := []string{"--directory-dsn", so.DirectoryDSN, "--mailbox", so.Mailbox, "--blob-store", so.BlobStore}
//
// Each test gets a schema, a stream, subjects and a token bucket, and a
// key prefix of its own, removed when it ends. A service whose variable is
// unset skips the test, except under CI (CI set), where that fails it: a
// green CI run never hides a skipped service test.
package services

import (
	"context"
	"crypto/rand"
	"database/sql"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, for the test's schema
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Env returns the environment variable name, skipping the test when it is
// unset, or failing it under CI.
func Env(t testing.TB, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not set under CI; .ci/setup.d should export it", name)
		}
		t.Skipf("%s is not set", name)
	}
	return v
}

// ScaleOut holds sealpostd's settings for the three scale-out backends.
type ScaleOut struct {
	DirectoryDSN string // --directory-dsn: PostgreSQL, a schema of the test's own
	Mailbox      string // --mailbox: NATS JetStream, a stream, subjects and token bucket of its own
	BlobStore    string // --blob-store: S3, a key prefix of its own
}

// Args returns the settings as sealpostd flags.
func (s ScaleOut) Args() []string {
	return []string{"--directory-dsn", s.DirectoryDSN, "--mailbox", s.Mailbox, "--blob-store", s.BlobStore}
}

// NewScaleOut makes the test's share of all three services; name (lower
// case letters and digits) starts each name made.
func NewScaleOut(t testing.TB, name string) ScaleOut {
	t.Helper()
	pgURL := Env(t, "SEALPOST_TEST_POSTGRES")
	natsURL := Env(t, "SEALPOST_TEST_NATS")
	s3URL := Env(t, "SEALPOST_TEST_S3")
	run := name + strings.ToLower(rand.Text()[:8])

	db, err := sql.Open("pgx", pgURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec("CREATE SCHEMA " + run); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Exec("DROP SCHEMA " + run + " CASCADE") })
	dsn, err := url.Parse(pgURL)
	if err != nil {
		t.Fatal(err)
	}
	q := dsn.Query()
	q.Set("search_path", run)
	dsn.RawQuery = q.Encode()

	blobs, err := url.Parse(s3URL)
	if err != nil {
		t.Fatal(err)
	}
	blobs.Path += "/" + run

	stream, bucket := strings.ToUpper(run), run+"_tokens"
	t.Cleanup(func() { DropStreams(t, natsURL, stream, "KV_"+bucket) })
	return ScaleOut{
		DirectoryDSN: dsn.String(),
		Mailbox:      natsURL + "?stream=" + stream + "&subject=" + run + "&wake=" + run + "w&tokens=" + bucket,
		BlobStore:    blobs.String(),
	}
}

// DropStreams deletes JetStream streams (a key-value bucket B is the
// stream KV_B) at url, logging what fails.
func DropStreams(t testing.TB, url string, streams ...string) {
	nc, err := nats.Connect(url)
	if err != nil {
		t.Logf("cleanup: %v", err)
		return
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Logf("cleanup: %v", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, s := range streams {
		if err := js.DeleteStream(ctx, s); err != nil {
			t.Logf("cleanup: deleting stream %s: %v", s, err)
		}
	}
}
