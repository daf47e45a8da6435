// Package catalogcheck holds only tests: they check the form package
// against the built-in purpose catalogue and notice vocabulary of
// internal/consent. They live apart so that the form package's own test
// binary, which the fuzzer instruments, does not pull in the stores.
package catalogcheck
