package main

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha1"
	"crypto/sha256"
	"fmt"
	"io"
	"runtime"
	"syscall"
	"time"
)

// primitiveBytes is how much each primitive processes when measured.
const primitiveBytes = 1 << 30

// primitives are the per-GiB CPU costs of the primitives a transfer cannot
// avoid, measured on one core in the same run as the transfers, so that the
// figures can be stated as ratios that survive a loaded machine.
type primitives struct {
	ctr, sha1, sha256, gcmSeal, gcmOpen time.Duration // CPU time per GiB
}

// measurePrimitives runs AES-256-CTR (the attachment cipher), SHA-1 (the
// signature), SHA-256 (the chunk checksums) and AES-128-GCM seal and open
// (TLS 1.3's record protection, as Go negotiates it on loopback) over 1 GiB
// each, in 256 KiB pieces, on this goroutine's thread, and returns the CPU
// time each took.
func measurePrimitives() primitives {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	buf := make([]byte, 256<<10)
	out := make([]byte, len(buf)+16)
	key := make([]byte, 32)
	block, _ := aes.NewCipher(key)
	ctr := cipher.NewCTR(block, make([]byte, aes.BlockSize))
	b128, _ := aes.NewCipher(key[:16])
	gcm, _ := cipher.NewGCM(b128)
	nonce := make([]byte, gcm.NonceSize())
	sealed := gcm.Seal(nil, nonce, buf, nil)
	each := func(f func()) time.Duration {
		t0 := threadCPU()
		for range primitiveBytes / len(buf) {
			f()
		}
		return threadCPU() - t0
	}
	var p primitives
	p.ctr = each(func() { ctr.XORKeyStream(buf, buf) })
	h1 := sha1.New()
	p.sha1 = each(func() { h1.Write(buf) })
	h2 := sha256.New()
	p.sha256 = each(func() { h2.Write(buf) })
	p.gcmSeal = each(func() { gcm.Seal(out[:0], nonce, buf, nil) })
	p.gcmOpen = each(func() {
		if _, err := gcm.Open(out[:0], nonce, sealed, nil); err != nil {
			panic(err)
		}
	})
	return p
}

// threadCPU returns the CPU time of the calling thread (Linux:
// RUSAGE_THREAD), or of the process elsewhere.
func threadCPU() time.Duration {
	const rusageThread = 1
	var ru syscall.Rusage
	if syscall.Getrusage(rusageThread, &ru) != nil {
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// floors returns the CPU time per GiB that the primitives alone cost, all
// processes together, on the way up (the client encrypts and hashes, TLS
// seals and opens, the server checks chunk checksums and the signature)
// and on the way down (TLS, the client's decryption and signature check).
// The second AES pass of an upload is not counted: it could be avoided
// only by keeping the ciphertext, which costs more.
func (p primitives) floors() (up, down time.Duration) {
	up = p.ctr + p.sha1 + p.sha256 + p.gcmSeal + p.gcmOpen + p.sha256 + p.sha1
	down = p.gcmSeal + p.gcmOpen + p.ctr + p.sha1
	return up, down
}

func (p primitives) report(out io.Writer, cpus int) {
	mbps := func(d time.Duration) float64 { return primitiveBytes / 1e6 / d.Seconds() }
	fmt.Fprintf(out, "blobload: primitives, CPU s per GiB on one core: AES-256-CTR %.3f (%.0f MB/s)  SHA-1 %.3f (%.0f MB/s)  SHA-256 %.3f (%.0f MB/s)  AES-128-GCM seal %.3f (%.0f MB/s) open %.3f (%.0f MB/s)\n",
		p.ctr.Seconds(), mbps(p.ctr), p.sha1.Seconds(), mbps(p.sha1), p.sha256.Seconds(), mbps(p.sha256),
		p.gcmSeal.Seconds(), mbps(p.gcmSeal), p.gcmOpen.Seconds(), mbps(p.gcmOpen))
	up, down := p.floors()
	fmt.Fprintf(out, "blobload: primitives' floor, CPU s per GiB, client and server together: upload %.2f (at most %.0f MB/s on %d cores), download %.2f (at most %.0f MB/s)\n",
		up.Seconds(), float64(cpus)*mbps(up), cpus, down.Seconds(), float64(cpus)*mbps(down))
}
