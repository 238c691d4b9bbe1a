// Package fsfail makes the file writes of a test process fail, as a full
// disk does, so that tests can check how the program behaves when its
// database cannot write (see FailWrites, on Linux only). Import it from
// tests only.
package fsfail
