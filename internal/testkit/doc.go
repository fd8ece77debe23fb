// Package testkit is test support shared by the tests of the crypto-core
// packages (pair, pairec, identity, ...): the interoperability parties and
// vectors (including the walk over every folder of them that the interop
// tests make), deterministic plaintexts, allocation measurement, the check
// that a refusal is the one opaque error, the JSON files and -update flag
// of the known-answer tests, and the bookkeeping of the E3/E4 tamper
// corpora (fault tallies and a parallel runner whose items may fail).
//
// Its files are ordinary .go files so that tests of several packages can
// share them, but it is imported only from _test.go files: production code
// never imports it (TestOnlyTestsImport checks that). It imports testing.
//
// Only logic that is the same for every scheme lives here; what a scheme
// tampers with, and what a correct receiver must answer, stays in that
// scheme's tests. Paths are relative to a package at the repository root,
// where go test runs those tests.
package testkit
