package s3

import (
	"context"
	"os"
	"testing"

	"github.com/sealpost/sealpost/internal/blobs/storage"
	"github.com/sealpost/sealpost/internal/blobs/storage/storagetest"
)

// testConfig returns the bucket of SEALPOST_TEST_S3 with a fresh prefix.
// Without it the tests skip, except under CI, where they fail.
func testConfig(t *testing.T) Config {
	t.Helper()
	u := os.Getenv("SEALPOST_TEST_S3")
	if u == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("SEALPOST_TEST_S3 is not set; .ci/setup.d/s3.sh sets it up")
		}
		t.Skip("SEALPOST_TEST_S3 is not set (s3://KEY:SECRET@host:port/bucket?tls=false)")
	}
	cfg, err := ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Prefix += "test-" + storagetest.NewID() + "/"
	return cfg
}

func TestConformance(t *testing.T) {
	cfg := testConfig(t)
	s, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	storagetest.Run(t, func(t *testing.T) storage.Store { return s })
}

func TestParseURL(t *testing.T) {
	c, err := ParseURL("s3://AK:S%2Fk@127.0.0.1:7070/bucket/some/prefix?region=eu-west-1&tls=false")
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Endpoint: "http://127.0.0.1:7070", Bucket: "bucket", Prefix: "some/prefix/", Region: "eu-west-1", AccessKey: "AK", SecretKey: "S/k"}
	if c != want {
		t.Fatalf("got %+v\nwant %+v", c, want)
	}
	if s := c.String(); s == "" || contains(s, "S/k") || contains(s, "AK") {
		t.Fatalf("String() shows credentials: %s", s)
	}
	c, err = ParseURL("s3://AK:SK@s3.amazonaws.com/b")
	if err != nil || c.Endpoint != "https://s3.amazonaws.com" || c.Region != "us-east-1" || c.Prefix != "" {
		t.Fatalf("%+v %v", c, err)
	}
	for _, bad := range []string{"s3://host/b", "s3://AK:SK@host", "s3://AK:SK@host/", "http://AK:SK@host/b", "s3://AK:SK@host/b?tls=maybe", "s3://AK:SK@host/b?x=1", "s3://AK@host/b"} {
		if _, err := ParseURL(bad); err == nil {
			t.Errorf("ParseURL(%q) accepted", bad)
		}
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
