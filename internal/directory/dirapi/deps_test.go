package dirapi

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoServerDependencies: the client side of the directory (this
// package, which the SDK and CLI use) links no database driver, no mail
// library and no server code.
func TestNoServerDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Skipf("go list unavailable: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"modernc.org/sqlite", "github.com/jackc/pgx", "github.com/wneessen/go-mail",
			"github.com/sealpost/sealpost/internal/directory/storage", "github.com/sealpost/sealpost/internal/server", "database/sql"} {
			if strings.HasPrefix(dep, banned) {
				t.Errorf("dirapi depends on %s", dep)
			}
		}
	}
}
