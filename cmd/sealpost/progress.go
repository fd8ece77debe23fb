package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/sealpost/sealpost/client"
)

// progressBar draws attachment uploads and downloads on a terminal, at
// most ten times a second, and ends the line when a file is done.
func progressBar(w io.Writer) client.ProgressFunc {
	var mu sync.Mutex
	var last time.Time
	return func(op, name string, done, total int64) {
		mu.Lock()
		defer mu.Unlock()
		finished := done >= total
		if !finished && time.Since(last) < 100*time.Millisecond {
			return
		}
		last = time.Now()
		const width = 30
		frac := 1.0
		if total > 0 {
			frac = float64(done) / float64(total)
		}
		n := int(frac * width)
		if len(name) > 24 {
			name = name[:21] + "..."
		}
		fmt.Fprintf(w, "\r%-8s %-24s [%s%s] %3.0f%% %s / %s", op, name, strings.Repeat("=", n), strings.Repeat(" ", width-n),
			frac*100, size(done), size(total))
		if finished {
			fmt.Fprintln(w)
		}
	}
}
