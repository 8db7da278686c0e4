//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"
)

// TestMain adds what t.Cleanup cannot do: tear everything down on SIGINT or
// SIGTERM (VMs, taps, bridge, namespace, overlays; artifacts are saved), and
// remove namespaces that runs killed earlier left behind.
func TestMain(m *testing.M) {
	if os.Getenv(driverEnv) == "rollout" {
		// this binary again, inside a scenario's namespace (rolling.go)
		os.Exit(rolloutDriver())
	}
	if os.Geteuid() == 0 {
		cleanStaleNamespaces()
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-sig
		fmt.Fprintf(os.Stderr, "\ne2e: %v: cleaning up VMs, taps, bridge, namespace, overlays\n", s)
		interrupted.Store(true)
		runAllCleanups()
		if procTmp != "" {
			os.RemoveAll(procTmp)
		}
		os.Exit(130)
	}()
	code := m.Run()
	if procTmp != "" {
		os.RemoveAll(procTmp)
	}
	os.Exit(code)
}
