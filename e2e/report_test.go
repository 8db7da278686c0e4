package e2e

import "testing"

func TestParseReports(t *testing.T) {
	stream := "[  1.0] kernel noise\r\n" +
		"=== E2E-REPORT BEGIN node1 ===\r\n" +
		"@@ boot_id abc\r\n@@ boots 2\r\n" +
		">>> hostname\r\nnode1\r\n<<< rc=0\r\n" +
		"[ 2.0] interleaved kernel line\r\n" + // lands inside no section: ignored
		">>> cloud-init-log-warnings\r\n<<< rc=1\r\n" +
		">>> etc-hosts\r\n10.0.0.1 a\r\n10.0.0.2 b\r\n<<< rc=0\r\n" +
		"=== E2E-REPORT END ===\r\n" +
		"=== E2E-REPORT BEGIN node1 ===\r\n>>> hostname\r\nnode1\r\n" // incomplete: not returned
	reps := ParseReports([]byte(stream))
	if len(reps) != 1 {
		t.Fatalf("got %d reports, want 1", len(reps))
	}
	r := reps[0]
	if r.Host != "node1" || r.Header("boot_id") != "abc" || r.HeaderInt("boots") != 2 {
		t.Errorf("header: host %q boot_id %q boots %d", r.Host, r.Header("boot_id"), r.HeaderInt("boots"))
	}
	if s := r.Section("hostname"); s.Text() != "node1" || s.RC != 0 {
		t.Errorf("hostname section %+v", s)
	}
	if s := r.Section("cloud-init-log-warnings"); len(s.Lines) != 0 || s.RC != 1 {
		t.Errorf("warnings section %+v", s)
	}
	if s := r.Section("etc-hosts"); len(s.Lines) != 2 {
		t.Errorf("etc-hosts section %+v", s)
	}
	if s := r.Section("missing"); s.RC != -1 {
		t.Errorf("missing section rc %d", s.RC)
	}
}
