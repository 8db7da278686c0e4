package pki

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
)

func TestFileModes(t *testing.T) {
	// A permissive umask must not leak into the layout, and a strict one
	// must not make certificates unreadable.
	for _, umask := range []int{0, 0o077} {
		old := syscall.Umask(umask)
		cfg := testConfig(t)
		mustEnsure(t, cfg)
		syscall.Umask(old)
		err := filepath.WalkDir(cfg.Dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			want := fs.FileMode(certMode)
			switch {
			case d.IsDir():
				want = dirMode
			case strings.HasSuffix(p, ".key"):
				want = keyMode
			}
			if fi.Mode().Perm() != want {
				t.Errorf("umask %04o: %s has mode %04o, want %04o", umask, p, fi.Mode().Perm(), want)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// A PKI restored from git comes back 0755/0644: it is tightened, not refused,
// and the warning says so.
func TestLoosePermissionsAreTightenedWithWarning(t *testing.T) {
	cfg := testConfig(t)
	mustEnsure(t, cfg)
	loose := []string{"", "nodes", "nodes/k8s01"}
	for _, d := range loose {
		os.Chmod(filepath.Join(cfg.Dir, d), 0o755)
	}
	for _, k := range []string{"ca.key", "admin.key", "nodes/k8s01/peer.key"} {
		os.Chmod(filepath.Join(cfg.Dir, k), 0o644)
	}
	planned, err := Plan(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(filepath.Join(cfg.Dir, "ca.key")); fi.Mode().Perm() != 0o644 {
		t.Error("Plan changed permissions")
	}
	p := mustEnsure(t, cfg)
	if !reflect.DeepEqual(planned, p.Events) {
		t.Errorf("Plan %v\nEnsure %v", planned, p.Events)
	}
	want := map[string]string{
		".":                    "directory permissions 0755",
		"nodes":                "directory permissions 0755",
		"nodes/k8s01":          "directory permissions 0755",
		"ca.key":               "key permissions 0644",
		"admin.key":            "key permissions 0644",
		"nodes/k8s01/peer.key": "key permissions 0644",
	}
	if got := kinds(p.Events, EventWarning); len(got) != len(want) {
		t.Errorf("warnings %v", got)
	}
	for f, detail := range want {
		e, ok := findEvent(p.Events, EventWarning, f)
		if !ok || !strings.Contains(e.Detail, detail) || !strings.Contains(e.Detail, "tightening") {
			t.Errorf("%s: %v", f, e)
		}
		fi, _ := os.Stat(filepath.Join(cfg.Dir, f))
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("%s still %04o", f, perm)
		}
	}
	if len(kinds(mustEnsure(t, cfg).Events, EventWarning)) != 0 {
		t.Error("warnings repeat after the fix")
	}
}

func TestFailedWriteLeavesNoTempFiles(t *testing.T) {
	cfg := testConfig(t)
	boom := errors.New("disk full")
	// Fail at each write position in turn; every run must leave no
	// temporaries, and a clean run afterwards must complete the PKI.
	for n := 1; n <= 4; n++ {
		calls := 0
		testHookBeforeRename = func(path string) error {
			calls++
			if calls == n {
				return boom
			}
			return nil
		}
		_, err := Ensure(cfg)
		testHookBeforeRename = nil
		if !errors.Is(err, boom) {
			t.Fatalf("write %d: error %v", n, err)
		}
		for f := range snapshot(t, cfg.Dir) {
			if strings.Contains(f, tmpInfix) {
				t.Errorf("write %d: temp file %s left behind", n, f)
			}
		}
	}
	p := mustEnsure(t, cfg)
	roots := p.CACert
	for _, ck := range []CertKey{p.Admin, p.Nodes["k8s01"][ProfileServer], p.Nodes["k8s03"][ProfilePeer]} {
		if err := ck.Cert.CheckSignatureFrom(roots); err != nil || !keyMatchesPEM(t, ck) {
			t.Errorf("%s after recovery: %v", ck.Cert.Subject.CommonName, err)
		}
	}
	if len(kinds(mustEnsure(t, cfg).Events, EventReused)) != len(allCertFiles("k8s01", "k8s02", "k8s03")) {
		t.Error("PKI not stable after recovery")
	}
}

// A run that dies after replacing a key but before writing its certificate is
// repaired by the next run without losing the key.
func TestCrashBetweenKeyAndCertIsRepaired(t *testing.T) {
	cfg := testConfig(t)
	cfg.Nodes = cfg.Nodes[:1]
	mustEnsure(t, cfg)
	cfg.LeafAlgorithm = AlgRSA2048 // forces new keys
	testHookBeforeRename = func(path string) error {
		if strings.HasSuffix(path, "admin.crt") {
			return errors.New("killed")
		}
		return nil
	}
	_, err := Ensure(cfg)
	testHookBeforeRename = nil
	if err == nil {
		t.Fatal("hook did not fire")
	}
	newKey, _ := os.ReadFile(filepath.Join(cfg.Dir, "admin.key"))
	p := mustEnsure(t, cfg)
	e, _ := findEvent(p.Events, EventReissued, "admin.crt")
	if !strings.Contains(e.Detail, "key does not match the certificate") || strings.Contains(e.Detail, "key is ") {
		t.Errorf("detail %q", e.Detail)
	}
	if string(p.Admin.KeyPEM) != string(newKey) || !keyMatchesPEM(t, p.Admin) {
		t.Error("the key written before the crash was not kept")
	}
}

func TestStaleTempFilesAreRemoved(t *testing.T) {
	cfg := testConfig(t)
	mustEnsure(t, cfg)
	stale := []string{".ca.key" + tmpInfix + "123", "nodes/k8s01/.server.crt" + tmpInfix + "9"}
	for _, f := range stale {
		os.WriteFile(filepath.Join(cfg.Dir, f), []byte("x"), 0o600)
	}
	keep := filepath.Join(cfg.Dir, "notes.txt")
	os.WriteFile(keep, []byte("mine"), 0o600)
	// Even a run that writes nothing cleans up.
	if p := mustEnsure(t, cfg); len(kinds(p.Events, EventReused)) != len(p.Events) {
		t.Errorf("events %v", p.Events)
	}
	for _, f := range stale {
		if _, err := os.Stat(filepath.Join(cfg.Dir, f)); !os.IsNotExist(err) {
			t.Errorf("%s not removed", f)
		}
	}
	if _, err := os.Stat(keep); err != nil {
		t.Error("unrelated file removed")
	}
}

func TestDirIsAFile(t *testing.T) {
	cfg := testConfig(t)
	os.WriteFile(cfg.Dir, nil, 0o600)
	_, err := Ensure(cfg)
	wantErr(t, err, ErrInvalidConfig, "is not a directory")
}
