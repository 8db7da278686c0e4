package cloudinit

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// DefaultCache is where scripts/trixie-root.sh keeps its roots unless
// ETCDIMG_TRIXIE_ROOT names another folder; the e2e base images live there too.
const DefaultCache = "/var/cache/etcdimg-e2e"

const trixieScript = "scripts/trixie-root.sh"

var (
	availableOnce sync.Once
	available     []*Checker
	notes         []string // logged by every Available: what is missing, what was built
	availableErr  error    // only when the trixie root was demanded and cannot be had
)

// Available returns every cloud-init the tests can run: the host's and the
// one in the trixie root. The root is, in order: ETCDIMG_TRIXIE_ROOT when it
// is a root itself; CACHE/trixie-root-<hash of scripts/trixie-root.sh> with
// CACHE = ETCDIMG_TRIXIE_ROOT or DefaultCache (what the script prints); or,
// with ETCDIMG_BUILD_TRIXIE=1, built now by the script (about a minute).
//
// It logs what is missing and skips only when nothing is there, so a
// developer without the root still gets the host's check. With
// ETCDIMG_BUILD_TRIXIE=1 the root is required: failing to build or run it
// fails the test instead of skipping it, so CI cannot pass without 25.1.
func Available(t testing.TB) []*Checker {
	t.Helper()
	availableOnce.Do(discover)
	for _, n := range notes {
		t.Log(n)
	}
	if availableErr != nil {
		t.Fatal(availableErr)
	}
	if len(available) == 0 {
		t.Skip("no cloud-init to run (apt-get install cloud-init; scripts/trixie-root.sh as root)")
	}
	for _, c := range available {
		t.Logf("checking with %s", c)
	}
	return available
}

func discover() {
	if c, err := Host(); err != nil {
		notes = append(notes, "missing: "+err.Error())
	} else {
		available = append(available, c)
	}
	demanded := os.Getenv("ETCDIMG_BUILD_TRIXIE") == "1"
	root, err := trixieRoot(demanded)
	if err == nil {
		var c *Checker
		if c, err = Chroot(root); err == nil {
			available = append(available, c)
			return
		}
	}
	if demanded {
		availableErr = fmt.Errorf("ETCDIMG_BUILD_TRIXIE=1 but the trixie cloud-init cannot run: %w", err)
		return
	}
	notes = append(notes, "missing: "+err.Error()+" (ETCDIMG_BUILD_TRIXIE=1 builds it, as root)")
}

func trixieRoot(build bool) (string, error) {
	env := os.Getenv("ETCDIMG_TRIXIE_ROOT")
	if env != "" {
		if _, err := os.Stat(filepath.Join(env, "usr/bin/cloud-init")); err == nil {
			return env, nil
		}
	}
	cache := env
	if cache == "" {
		cache = DefaultCache
	}
	script, err := findScript()
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(script)
	if err != nil {
		return "", err
	}
	// The script names its root after the sha256 of its own bytes (first 12
	// hex digits): a root from an older recipe is never taken for this one.
	sum := sha256.Sum256(b)
	root := filepath.Join(cache, "trixie-root-"+hex.EncodeToString(sum[:])[:12])
	if _, err := os.Stat(filepath.Join(root, "usr/bin/cloud-init")); err == nil {
		// Cache pruning (the script's, e2e/base-image.sh's) drops roots
		// unused for a week by their mtime: mark this one as used.
		now := time.Now()
		_ = os.Chtimes(root, now, now)
		return root, nil
	}
	if !build {
		return "", fmt.Errorf("trixie root %s: not built", root)
	}
	start := time.Now()
	cmd := exec.Command(script, cache)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s %s: %v\n%s", script, cache, err, stderr.String())
	}
	lines := strings.Fields(string(out))
	if len(lines) == 0 {
		return "", fmt.Errorf("%s printed no path\n%s", script, stderr.String())
	}
	notes = append(notes, fmt.Sprintf("built %s in %s", lines[len(lines)-1], time.Since(start).Round(time.Second)))
	return lines[len(lines)-1], nil
}

// findScript walks up from the test's working directory (its package
// folder) to the module root.
func findScript() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, trixieScript)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New(trixieScript + " not found above the working directory")
		}
		dir = parent
	}
}
