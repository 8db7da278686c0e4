package e2e

import (
	"strings"
	"testing"
)

// Outputs of `cloud-init status --wait --format json` as the harness's
// guests printed them (trimmed): bookworm's 22.4 and trixie's 25.1
// after a clean run, and 25.1 after a user-data with a deprecated key, which
// 22.4 would call done.
const (
	json224 = `{
  "_schema_version": "1",
  "boot_status_code": "enabled-by-generator",
  "datasource": "nocloud",
  "detail": "DataSourceNoCloud [seed=/dev/sr0][dsmode=net]",
  "errors": [],
  "schemas": {"1": {"errors": [], "status": "done"}},
  "status": "done"
}`
	json251 = `{
  "datasource": "nocloud",
  "errors": [],
  "extended_status": "done",
  "init": {"errors": [], "finished": 66.39, "recoverable_errors": {}, "start": 61.16},
  "recoverable_errors": {},
  "stage": null,
  "status": "done"
}`
	json251Degraded = `{
  "errors": [],
  "extended_status": "degraded done",
  "init": {"errors": [], "recoverable_errors": {"DEPRECATED": ["Deprecated cloud-config provided: apt_reboot_if_required:  Deprecated in version 22.2. Use **package_reboot_if_required** instead."]}},
  "recoverable_errors": {
    "DEPRECATED": [
      "Deprecated cloud-config provided: apt_reboot_if_required:  Deprecated in version 22.2. Use **package_reboot_if_required** instead."
    ]
  },
  "stage": null,
  "status": "done"
}`
)

func sec(name, text string, rc int) *Section {
	return &Section{Name: name, Lines: strings.Split(text, "\n"), RC: rc}
}

func TestCloudInitProblems(t *testing.T) {
	for _, tc := range []struct {
		name     string
		js       *Section
		wantErrs []string // substrings, one per problem, in order
	}{
		{"22.4 done", sec("j", json224, 0), nil},
		{"25.1 done", sec("j", json251, 0), nil},
		{"25.1 degraded", sec("j", json251Degraded, 2), []string{
			`cloud-init-status: exit 2, status "done", extended_status "degraded done"`,
			`cloud-init-status: recoverable DEPRECATED: Deprecated cloud-config provided: apt_reboot_if_required`,
		}},
		{"22.4 error", sec("j", `{"status": "error", "errors": ["('scripts_user', RuntimeError('runparts: 1 failures'))"]}`, 1), []string{
			`cloud-init-status: exit 1, status "error"`,
			`cloud-init-status: error: ('scripts_user'`,
		}},
		{"exit code alone", sec("j", json224, 1), []string{`cloud-init-status: exit 1, status "done"`}},
		{"disabled", sec("j", `{"status": "disabled", "detail": "Cloud-init disabled by cloud-init-generator", "errors": []}`, 0), []string{
			`cloud-init-status: exit 0, status "disabled"`,
		}},
		{"json garbage", sec("j", "usage: cloud-init status", 2), []string{
			"cloud-init-status: exit 2, no JSON object",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps := CloudInitProblems(tc.js)
			if len(ps) != len(tc.wantErrs) {
				t.Fatalf("got %d problems %+v, want %d", len(ps), ps, len(tc.wantErrs))
			}
			for i, p := range ps {
				if got := p.Check + ": " + p.Detail; !strings.Contains(got, tc.wantErrs[i]) {
					t.Errorf("problem %d = %q, want it to contain %q", i, got, tc.wantErrs[i])
				}
			}
		})
	}
}

func TestCloudInitStatus(t *testing.T) {
	r := &Report{Sections: map[string]*Section{"cloud-init-status": sec("cloud-init-status", "\n"+json224, 0)}}
	if got := CloudInitStatus(r); got.Status != "done" || got.Detail != "DataSourceNoCloud [seed=/dev/sr0][dsmode=net]" {
		t.Errorf("CloudInitStatus = %+v", got)
	}
	if got := CloudInitStatus(&Report{Sections: map[string]*Section{}}); got.Status != "" {
		t.Errorf("CloudInitStatus of no section = %+v, want zero", got)
	}
}
