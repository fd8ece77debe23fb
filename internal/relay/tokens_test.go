package relay_test

import (
	"path/filepath"
	"testing"

	"github.com/sealpost/sealpost/internal/relay"
	"github.com/sealpost/sealpost/internal/relay/tokenstest"
)

func TestFileTokensConformance(t *testing.T) {
	dir := t.TempDir()
	tokenstest.Run(t, tokenstest.Harness{
		Open: func(t *testing.T, name string) relay.TokenStore {
			s, err := relay.OpenTokens(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	})
}
