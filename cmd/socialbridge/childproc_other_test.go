//go:build !linux

package main

import "os/exec"

// dieWithParent does nothing where the platform has no parent-death
// signal; the tests stop their children at cleanup.
func dieWithParent(*exec.Cmd) {}
