// Command pause is the sandbox ("pause") container of the kubelet e2e test,
// standing in for registry.k8s.io/pause: it blocks until SIGTERM or SIGINT
// and, being PID 1 of the pod when the PID namespace is shared, reaps the
// children that are orphaned to it. Built static (CGO_ENABLED=0).
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for sig := range sigs {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var status syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
