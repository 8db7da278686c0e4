package e2e

import (
	"strings"
	"testing"
)

// Outputs of `cloud-init status --wait --long` and `--format json` as the
// harness's guests printed them (trimmed): bookworm's 22.4 and trixie's 25.1
// after a clean run, and 25.1 after a user-data with a deprecated key, which
// 22.4 would call done.
const (
	long224 = `
status: done
boot_status_code: enabled-by-generator
last_update: Sat, 28 Nov 2026 09:06:27 +0000
detail:
DataSourceNoCloud [seed=/dev/sr0][dsmode=net]`
	json224 = `{
  "_schema_version": "1",
  "boot_status_code": "enabled-by-generator",
  "datasource": "nocloud",
  "detail": "DataSourceNoCloud [seed=/dev/sr0][dsmode=net]",
  "errors": [],
  "schemas": {"1": {"errors": [], "status": "done"}},
  "status": "done"
}`
	long251 = `status: done
extended_status: done
boot_status_code: enabled-by-generator
detail: DataSourceNoCloud [seed=/dev/sr0]
errors: []
recoverable_errors: {}`
	json251 = `{
  "datasource": "nocloud",
  "errors": [],
  "extended_status": "done",
  "init": {"errors": [], "finished": 66.39, "recoverable_errors": {}, "start": 61.16},
  "recoverable_errors": {},
  "stage": null,
  "status": "done"
}`
	long251Degraded = `status: done
extended_status: degraded done
boot_status_code: enabled-by-generator
detail: DataSourceNoCloud [seed=/dev/sr0]
errors: []
recoverable_errors:
DEPRECATED:
	- Deprecated cloud-config provided: apt_reboot_if_required:  Deprecated in version 22.2. Use **package_reboot_if_required** instead.`
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
		long     *Section
		js       *Section
		wantErrs []string // substrings, one per problem, in order
	}{
		{"22.4 done", sec("l", long224, 0), sec("j", json224, 0), nil},
		{"25.1 done", sec("l", long251, 0), sec("j", json251, 0), nil},
		{"no json section", sec("l", long251, 0), &Section{RC: -1}, nil},
		{"25.1 degraded", sec("l", long251Degraded, 2), sec("j", json251Degraded, 2), []string{
			`cloud-init-status: exit 2, status "done", extended_status "degraded done"`,
			`cloud-init-status-json: exit 2`,
			`cloud-init-status-json: recoverable DEPRECATED: Deprecated cloud-config provided: apt_reboot_if_required`,
		}},
		{"22.4 error", sec("l", "status: error", 1), sec("j", `{"status": "error", "errors": ["('scripts_user', RuntimeError('runparts: 1 failures'))"]}`, 1), []string{
			`cloud-init-status: exit 1, status "error"`,
			`cloud-init-status-json: exit 1, status "error"`,
			`cloud-init-status-json: error: ('scripts_user'`,
		}},
		{"json garbage", sec("l", long224, 0), sec("j", "usage: cloud-init status", 2), []string{
			"cloud-init-status-json: exit 2, no JSON object",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps := CloudInitProblems(tc.long, tc.js)
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
