// Command benchratio reads `go test -bench` output for the pair and pairec
// packages and prints, for every Seal and Open benchmark, the ratio of its
// median ns/op to the sum of the median ns/op of the primitives that
// operation performs, as measured in the same run (BenchmarkBnPrim in each
// package's bench_test.go). It never times anything itself.
//
//	go test -run '^$' -bench . -benchmem -count 5 ./pair ./pairec | tee /tmp/sealpost-bench-payload.txt
//	go run ./internal/benchratio < /tmp/sealpost-bench-payload.txt
//
// Each operation is compared twice: by wall-clock ns/op, and by cpu-ns/op,
// the process CPU time per operation that the benchmarks report (see
// internal/benchratio/cpuclock), which other processes on a shared machine
// disturb much less. With -stat min the minimum of the samples replaces the
// median. B/op and allocs/op are always medians.
//
// The output is Markdown, ready for BENCHMARKS.md: one section per package
// with the operation table (ratios above the 1.15 goal are marked) and the
// primitive medians. The exit status is 1 if a benchmark the mapping needs
// is missing from the input.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// goal is the largest acceptable ratio of an operation to its primitives.
const goal = 1.15

// term is one primitive an operation performs, weight times.
type term struct {
	bench  string // benchmark name without the -GOMAXPROCS suffix
	weight float64
}

// op is one measured operation and the primitives it is compared with.
type op struct {
	bench string
	prims []term
}

// pkg is one package section of the report.
type pkg struct {
	path  string // the "pkg:" line of go test
	title string
	ops   []op
	notes []string
}

var sizes = []string{"100B", "4KiB", "16KiB"}

func t(bench string) term             { return term{bench, 1} }
func tw(bench string, w float64) term { return term{bench, w} }
func prim(name string) string         { return "BenchmarkBnPrim/" + name }
func sized(name, size string) string  { return prim(name + "/" + size) }
func opName(kind, size string) string { return "Benchmark" + kind + "/" + size }
func forSizes(f func(size string) op) []op {
	var out []op
	for _, s := range sizes {
		out = append(out, f(s))
	}
	return out
}

// mapping says which primitives each operation performs (protocol.md §1).
var mapping = []pkg{
	{
		path:  "github.com/sealpost/sealpost/pair",
		title: `"pair" (RSA-OAEP-1280 + AES-128-CTR + ECDSA P-256/SHA-1)`,
		ops: slices.Concat(
			forSizes(func(s string) op {
				return op{opName("BnSeal", s), []term{
					t(prim("rand-11B")),
					t(sized("HMAC-SHA256", s)),
					t(sized("AES-128-CTR", s)),
					t(prim("RSA-OAEP-SHA1-encrypt")),
					t(sized("SHA-1", s)),
					t(prim("ECDSA-P256-sign-DER")),
				}}
			}),
			forSizes(func(s string) op {
				return op{opName("BnOpen", s), []term{
					t(sized("SHA-1", s)),
					t(prim("ECDSA-P256-verify-DER")),
					t(prim("RSA-OAEP-SHA1-decrypt")),
					t(sized("AES-128-CTR", s)),
					t(sized("HMAC-SHA256", s)),
				}}
			}),
		),
		notes: []string{
			"The identity hashes in the HMAC input are cached by identity.Public, so neither operation hashes an identity.",
		},
	},
	{
		path:  "github.com/sealpost/sealpost/pairec",
		title: `"pair-ec" (ECDH P-256 + HKDF-SHA256 + AES-256-CTR + ECDSA P-256/SHA-256)`,
		ops: slices.Concat(
			forSizes(func(s string) op {
				return op{opName("BnSeal", s), []term{
					tw(prim("P256-keygen"), 2),
					t(sized("rand-pad", s)),
					t(prim("P256-decompress")),
					t(prim("ECDH-P256")),
					t(prim("HKDF-SHA256-48B")),
					t(sized("AES-256-CTR", s)),
					t(sized("SHA-256", s)),
					t(prim("ECDSA-P256-sign-DER")),
				}}
			}),
			forSizes(func(s string) op {
				return op{opName("BnOpen", s), []term{
					tw(prim("P256-decompress"), 2),
					t(prim("ECDH-P256")),
					t(sized("SHA-256", s)),
					t(prim("ECDSA-P256-verify-DER")),
					t(prim("HKDF-SHA256-48B")),
					t(sized("AES-256-CTR", s)),
				}}
			}),
		),
		notes: []string{
			"P256-keygen counts 2: a compactable ephemeral key takes 2 draws on average (exactly one of d and n−d has the smaller y).",
			"P256-decompress is one square root: Seal decompresses the receiver's prekey, Open the ephemeral key and the sender's device key.",
		},
	},
}

// sample is the measurements of one benchmark line.
type sample struct {
	ns, cpu, bytes, allocs float64
	hasCPU                 bool
}

var suffix = regexp.MustCompile(`-\d+$`)

// parse reads go test -bench output and groups the samples by package and
// benchmark name.
func parse(r io.Reader) (map[string]map[string][]sample, []string, error) {
	out := map[string]map[string][]sample{}
	var cpus []string
	cur := ""
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			cur = strings.TrimSpace(p)
			continue
		}
		if c, ok := strings.CutPrefix(line, "cpu: "); ok && !slices.Contains(cpus, c) {
			cpus = append(cpus, c)
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		var s sample
		ok := false
		for i := 2; i+1 < len(f); i++ {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "ns/op":
				s.ns, ok = v, true
			case "cpu-ns/op":
				s.cpu, s.hasCPU = v, true
			case "B/op":
				s.bytes = v
			case "allocs/op":
				s.allocs = v
			}
		}
		if !ok {
			continue
		}
		name := suffix.ReplaceAllString(f[0], "")
		if out[cur] == nil {
			out[cur] = map[string][]sample{}
		}
		out[cur][name] = append(out[cur][name], s)
	}
	return out, cpus, sc.Err()
}

// useMin makes the statistic the minimum instead of the median (-stat min).
var useMin bool

// center is the statistic of the samples: the median, or with -stat min the
// minimum, which on a shared machine is the least disturbed sample.
func center(v []float64) float64 {
	if useMin {
		return slices.Min(v)
	}
	return median(v)
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// stat is the medians of one benchmark.
type stat struct {
	ns, cpu, bytes, allocs float64
	n                      int
	hasCPU                 bool // every sample reported cpu-ns/op
}

func stats(ss []sample) stat {
	var ns, cpu, by, al []float64
	all := true
	for _, s := range ss {
		ns, by, al = append(ns, s.ns), append(by, s.bytes), append(al, s.allocs)
		cpu = append(cpu, s.cpu)
		all = all && s.hasCPU
	}
	st := stat{ns: center(ns), bytes: median(by), allocs: median(al), n: len(ss), hasCPU: all}
	if all {
		st.cpu = center(cpu)
	}
	return st
}

// ratio formats a/b, marked when it exceeds the goal.
func ratio(a, b float64, ok bool) string {
	if !ok || b <= 0 {
		return "n/a"
	}
	r := a / b
	if r > goal {
		return fmt.Sprintf("**%.3f**", r)
	}
	return fmt.Sprintf("%.3f", r)
}

func short(bench string) string {
	s := strings.TrimPrefix(bench, "BenchmarkBnPrim/")
	return strings.TrimPrefix(s, "BenchmarkBn")
}

func fmtNs(ns float64) string {
	switch {
	case ns >= 1e6:
		return fmt.Sprintf("%.3f ms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.1f µs", ns/1e3)
	default:
		return fmt.Sprintf("%.0f ns", ns)
	}
}

func main() {
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: go run ./internal/benchratio < bench.txt")
		flag.PrintDefaults()
	}
	statName := flag.String("stat", "median", "statistic over the samples of a benchmark: median or min")
	flag.Parse()
	switch *statName {
	case "median":
	case "min":
		useMin = true
	default:
		flag.Usage()
		os.Exit(2)
	}
	data, cpus, err := parse(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchratio:", err)
		os.Exit(2)
	}
	if len(cpus) > 0 {
		fmt.Printf("cpu (from go test): %s\n", strings.Join(cpus, "; "))
	}
	fmt.Printf("statistic: %s of the samples of each benchmark; ratios above %.2f in bold\n\n", *statName, goal)
	missing := 0
	for _, p := range mapping {
		benches, ok := data[p.path]
		if !ok {
			fmt.Fprintf(os.Stderr, "benchratio: no benchmarks for %s in the input\n", p.path)
			missing++
			continue
		}
		get := func(name string) (stat, bool) {
			ss, ok := benches[name]
			if !ok {
				fmt.Fprintf(os.Stderr, "benchratio: %s: missing %s\n", p.path, name)
				missing++
				return stat{}, false
			}
			return stats(ss), true
		}
		fmt.Printf("#### %s\n\n", p.title)
		fmt.Println("| operation | ns/op | Σ prim ns/op | ratio | cpu-ns/op | Σ prim cpu-ns/op | CPU ratio | B/op | allocs/op | primitives (× count) |")
		fmt.Println("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
		var used []string
		for _, o := range p.ops {
			s, ok := get(o.bench)
			if !ok {
				continue
			}
			sum, sumCPU := 0.0, 0.0
			complete, cpuOK := true, s.hasCPU
			var names []string
			for _, tm := range o.prims {
				ps, ok := get(tm.bench)
				if !ok {
					complete = false
					continue
				}
				sum += tm.weight * ps.ns
				sumCPU += tm.weight * ps.cpu
				cpuOK = cpuOK && ps.hasCPU
				n := short(tm.bench)
				if tm.weight != 1 {
					n = fmt.Sprintf("%s ×%g", n, tm.weight)
				}
				names = append(names, n)
				if !slices.Contains(used, tm.bench) {
					used = append(used, tm.bench)
				}
			}
			cpuCell, sumCPUCell := "n/a", "n/a"
			if cpuOK {
				cpuCell, sumCPUCell = fmt.Sprintf("%.0f", s.cpu), fmt.Sprintf("%.0f", sumCPU)
			}
			fmt.Printf("| %s | %.0f | %.0f | %s | %s | %s | %s | %.0f | %.0f | %s |\n",
				short(o.bench), s.ns, sum, ratio(s.ns, sum, complete), cpuCell, sumCPUCell,
				ratio(s.cpu, sumCPU, complete && cpuOK), s.bytes, s.allocs, strings.Join(names, " + "))
		}
		fmt.Println()
		fmt.Println("| primitive | ns/op | cpu-ns/op | B/op | allocs/op | samples |")
		fmt.Println("| --- | ---: | ---: | ---: | ---: | ---: |")
		for _, name := range used {
			s, _ := get(name)
			cpu := "n/a"
			if s.hasCPU {
				cpu = fmtNs(s.cpu)
			}
			fmt.Printf("| %s | %s | %s | %.0f | %.0f | %d |\n", short(name), fmtNs(s.ns), cpu, s.bytes, s.allocs, s.n)
		}
		fmt.Println()
		for _, n := range p.notes {
			fmt.Println("- " + n)
		}
		if len(p.notes) > 0 {
			fmt.Println()
		}
	}
	if missing > 0 {
		os.Exit(1)
	}
}
