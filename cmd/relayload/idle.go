package main

import (
	"fmt"
	"os"
	"time"
)

// runIdle holds -conns authenticated, filtered, idle connections and
// reports the relay's resident memory per connection.
func runIdle(r *relay) {
	warm := r.connectAll(10, true)
	time.Sleep(3 * time.Second)
	base := r.rss()
	devs := r.connectAll(*flagConns, true)
	fmt.Fprintf(os.Stderr, "relayload: %d connections up; letting the relay settle\n", len(devs))
	var rss int64
	for range 6 {
		time.Sleep(5 * time.Second)
		rss = r.rss()
	}
	fmt.Printf("idle: conns=%d relay_rss_before=%dMiB after=%dMiB per_connection=%.1fKiB\n",
		len(devs), base>>20, rss>>20, float64(rss-base)/float64(len(devs))/1024)
	for _, d := range append(devs, warm...) {
		d.c.Close()
	}
}
