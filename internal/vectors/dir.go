package vectors

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
)

// Dirs returns the folders an interoperability test reads: vendored (the
// copy in the repository's testdata/vectors, as a path relative to the
// test's package, such as "../testdata/vectors") and, when the environment
// variable SEALPOST_VECTORS names it, the shared vectors folder. Under CI
// (CI set) SEALPOST_VECTORS must be set, so that a CI run cannot skip the
// shared vectors silently; Dirs then returns an error, which the test
// reports with t.Fatal.
func Dirs(vendored string) ([]string, error) {
	dirs := []string{vendored}
	if d := os.Getenv("SEALPOST_VECTORS"); d != "" {
		dirs = append(dirs, d)
	} else if os.Getenv("CI") != "" {
		return nil, errors.New("CI must set SEALPOST_VECTORS to the shared vectors folder")
	}
	return dirs, nil
}

// LoadDir reads every vector file in dir: each *.json file except the keys
// files (keys*.json), in the order of their names. A file LoadFile refuses
// is an error.
func LoadDir(dir string) ([]*File, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	var out []*File
	for _, p := range paths {
		if strings.HasPrefix(filepath.Base(p), "keys") {
			continue
		}
		f, err := LoadFile(p)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// Set is the vectors of one folder: the parties of its keys.json and its
// vector files.
type Set struct {
	Dir   string
	Keys  Keys
	Files []*File
}

// LoadSets reads every folder Dirs(vendored) names: its keys.json with
// LoadKeys and its vector files with LoadDir.
func LoadSets(vendored string) ([]Set, error) {
	dirs, err := Dirs(vendored)
	if err != nil {
		return nil, err
	}
	var out []Set
	for _, dir := range dirs {
		keys, err := LoadKeys(filepath.Join(dir, "keys.json"))
		if err != nil {
			return nil, err
		}
		files, err := LoadDir(dir)
		if err != nil {
			return nil, err
		}
		out = append(out, Set{Dir: dir, Keys: keys, Files: files})
	}
	return out, nil
}
