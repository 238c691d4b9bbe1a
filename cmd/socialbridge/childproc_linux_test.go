package main

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the child get SIGKILL when the test binary dies,
// however abruptly (a -timeout panic, a killed go test), so that no
// socialbridge process outlives its test.
func dieWithParent(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}
