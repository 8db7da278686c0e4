//go:build e2e

package e2e

import (
	"strings"
	"sync"
	"testing"
	"time"
)

// Each scenario builds testdata/e2e/<spec>.jsonnet with bin/etcdimg, boots
// one Debian VM per node from the seed ISOs (TCG unless real KVM), and
// checks the cluster from the guests' reports and from the host.

func TestFirstBootTLS(t *testing.T) {
	s := NewScenario(t, "first-boot-tls")
	s.Start()
	s.VerifyFirstBoot(s.WaitReports())
}

func TestPlainHTTP(t *testing.T) {
	s := NewScenario(t, "plain-http")
	if s.Info.TLS {
		t.Errorf("check cluster.json: plain-http spec reports tls=true")
	}
	for _, n := range s.Info.Nodes {
		if !strings.HasPrefix(n.Endpoint(), "http://") {
			t.Errorf("node %s: check client-url: %s is not plain http", n.Name, n.Endpoint())
		}
	}
	s.Start()
	s.VerifyFirstBoot(s.WaitReports())
}

func TestFiveNodes(t *testing.T) {
	s := NewScenario(t, "five-nodes")
	if len(s.VMs) != 5 {
		t.Fatalf("check cluster.json: five-nodes spec has %d nodes", len(s.VMs))
	}
	s.Start()
	s.VerifyFirstBoot(s.WaitReports())
}

// TestLateJoiner boots every node but the last, and the last one 90 s later
// (ETCDIMG_E2E_LATE_DELAY): the first ones must wait for (or form quorum
// without) it, and it must join the running cluster from its seed alone.
func TestLateJoiner(t *testing.T) {
	s := NewScenario(t, "late-joiner")
	delay := 90 * time.Second
	if v := envOr("ETCDIMG_E2E_LATE_DELAY", ""); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			delay = d
		}
	}
	early, late := s.VMs[:len(s.VMs)-1], s.VMs[len(s.VMs)-1]
	s.Start(early...)
	t.Logf("started %d nodes; %s starts in %s", len(early), late.Name, delay)
	var wg sync.WaitGroup
	var earlyReps map[string]*Report
	wg.Add(1)
	go func() {
		defer wg.Done()
		earlyReps = s.WaitReportsNoFatal(early...)
	}()
	time.Sleep(delay)
	s.Start(late)
	lateReps := s.WaitReports(late)
	wg.Wait()
	if earlyReps == nil {
		t.FailNow() // errors already reported
	}
	for k, v := range lateReps {
		earlyReps[k] = v
	}
	s.VerifyFirstBoot(earlyReps)
}

// TestRebootKeepsCluster boots the cluster, writes a key, powers every VM
// off through ACPI, boots them again from the same disks (seed still
// attached) and checks the cluster, its members and the key survived, and
// the guests are still in order.
func TestRebootKeepsCluster(t *testing.T) {
	s := NewScenario(t, "reboot")
	s.Start()
	s.VerifyFirstBoot(s.WaitReports())
	if t.Failed() {
		t.FailNow()
	}
	before := map[string]bool{}
	for _, n := range s.Info.Nodes {
		before[n.Name] = true
	}
	key, val := s.PutEverywhere()

	start := time.Now()
	var wg sync.WaitGroup
	for _, vm := range s.VMs {
		wg.Add(1)
		go func(vm *VM) {
			defer wg.Done()
			clean, err := vm.Shutdown(2 * time.Minute)
			if err != nil {
				t.Errorf("node %s: check shutdown: %v", vm.Name, err)
			} else if !clean {
				t.Errorf("node %s: check shutdown: no ACPI power-off within 2m, killed", vm.Name)
			}
		}(vm)
	}
	wg.Wait()
	s.Phase("acpi-poweroff (all)", time.Since(start))

	s.Start()
	reps := s.WaitReports()
	for _, n := range s.Info.Nodes {
		r := reps[n.Name]
		if b := r.HeaderInt("boots"); b != 2 {
			t.Errorf("node %s: check boot-count: report says boot %d, want 2", n.Name, b)
		}
		for _, f := range CheckNodeReport(s.Info, s.Rel, n, r) {
			t.Error(f)
		}
		if steps := r.Section("etcdimg-steps-journal").Lines; len(steps) > 0 {
			t.Logf("node %s: the etcdimg first-boot steps ran again on the second boot:\n%s", n.Name, indent(strings.Join(steps, "\n")))
		}
	}
	s.WaitHealthy(s.healthyTimeout(reps))
	s.CheckMembers()
	s.CheckKeyEverywhere(key, val)
	s.PutEverywhere()
}

// VerifyFirstBoot runs the guest checks on every report, then the host checks.
func (s *Scenario) VerifyFirstBoot(reps map[string]*Report) {
	t := s.T
	t.Helper()
	for _, n := range s.Info.Nodes {
		r := reps[n.Name]
		if r == nil {
			t.Errorf("node %s: check report: none", n.Name)
			continue
		}
		for _, f := range CheckNodeReport(s.Info, s.Rel, n, r) {
			t.Error(f)
		}
		if steps := Steps(r); len(steps) > 0 {
			t.Logf("node %s first-boot steps:\n%s", n.Name, indent(strings.Join(steps, "\n")))
		}
	}
	s.WaitHealthy(s.healthyTimeout(reps))
	s.CheckMembers()
	s.PutEverywhere()
}

// healthyTimeout is short when a guest already says etcd is not running:
// waiting minutes for health would only delay the report.
func (s *Scenario) healthyTimeout(reps map[string]*Report) time.Duration {
	for _, r := range reps {
		if r.Section("etcd-active").Text() != "active" {
			return 45 * time.Second
		}
	}
	return 4 * time.Minute
}
