package snapshot_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etcdimg/etcdimg/etcdclient"
	"github.com/etcdimg/etcdimg/internal/clustertest"
	"github.com/etcdimg/etcdimg/internal/etcdtest"
	"github.com/etcdimg/etcdimg/snapshot"
)

func open(t *testing.T, dir string) *etcdclient.Client {
	t.Helper()
	c, err := etcdclient.Open(dir, etcdclient.Options{DialTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// onlyFile fails unless dir holds exactly the named files: no temporary
// file may survive a save, failed or not.
func onlyFiles(t *testing.T, dir string, names ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if strings.Join(got, ",") != strings.Join(names, ",") {
		t.Errorf("%s holds %v, want %v", dir, got, names)
	}
}

// waitStorageVersion waits until the member at endpoint reports a storage
// version and returns it.
func waitStorageVersion(t *testing.T, c *etcdclient.Client, endpoint string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := c.Status(context.Background())
		if err == nil {
			for _, m := range st.Members {
				if m.Endpoint == endpoint && m.StorageVersion != "" {
					return m.StorageVersion
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s reports no storage version after 30 s (status error %v)", endpoint, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// etcdutlStatus is what etcd's own tool says about a snapshot file.
func etcdutlStatus(t *testing.T, etcdutl, path string) (st struct {
	Hash      uint32 `json:"hash"`
	Revision  int64  `json:"revision"`
	TotalKey  int    `json:"totalKey"`
	TotalSize int64  `json:"totalSize"`
	Version   string `json:"version"`
}) {
	t.Helper()
	out, err := etcdtest.Etcdctl(t, etcdutl, "snapshot", "status", path, "-w", "json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &st); err != nil {
		t.Fatalf("etcdutl snapshot status: %v\n%s", err, out)
	}
	return st
}

// TestSaveVerifyMatchesEtcdutl saves a snapshot of a real 3-member TLS
// cluster holding 5000 keys (some deleted, some overwritten) and checks
// that Verify reports what etcdutl from the release reports for the same
// file, that the file is 0600 and alone in its folder, and that etcdutl
// restores it.
func TestSaveVerifyMatchesEtcdutl(t *testing.T) {
	cl := clustertest.Start(t, clustertest.Options{})
	cl.Put("data/", 5000, 1024)
	cl.Put("data/", 100, 10) // overwrites: revisions, not keys
	cl.Delete("data/1")      // data/1, data/10..19, data/100..199, data/1000..1999
	c := open(t, cl.Dir)
	// etcd ≥ 3.6 detects its storage version asynchronously once the first
	// term is on disk; until then a snapshot's header carries none (seen in
	// CI right after the start). Wait for it so the check below is exact.
	storageVersion := waitStorageVersion(t, c, cl.Members[0].ClientURL)

	dir := t.TempDir()
	path := filepath.Join(dir, "cluster.db")
	var mu sync.Mutex
	var calls int
	var last int64
	saved, err := snapshot.Save(context.Background(), c, path, snapshot.SaveOptions{Progress: func(n int64) {
		mu.Lock()
		defer mu.Unlock()
		if n < last {
			t.Errorf("progress went back from %d to %d", last, n)
		}
		calls++
		last = n
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("saved %d keys, %d bytes at revision %d from %s in %v", saved.TotalKeys, saved.FileSize, saved.Revision, saved.Endpoint, saved.Duration)
	onlyFiles(t, dir, "cluster.db")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || fi.Size() != saved.FileSize || last != saved.FileSize || calls == 0 {
		t.Errorf("mode %v size %d, saved %d, progress %d in %d calls", fi.Mode().Perm(), fi.Size(), saved.FileSize, last, calls)
	}
	if saved.Endpoint != cl.Members[0].ClientURL || saved.Version != storageVersion {
		t.Errorf("endpoint %s version %q, want %s version %q", saved.Endpoint, saved.Version, cl.Members[0].ClientURL, storageVersion)
	}
	wantKeys := 5000 - 1 - 10 - 100 - 1000
	if saved.TotalKeys != wantKeys {
		t.Errorf("total keys %d, want %d", saved.TotalKeys, wantKeys)
	}

	info, err := snapshot.Verify(path)
	if err != nil {
		t.Fatal(err)
	}
	eu := etcdutlStatus(t, cl.Bins.Etcdutl, path)
	if info.Hash != eu.Hash || info.Revision != eu.Revision || info.TotalKeys != eu.TotalKey || info.Size != eu.TotalSize || info.StorageVersion != eu.Version {
		t.Errorf("Verify %+v, etcdutl %+v", info, eu)
	}
	// The revision is the cluster's: read it back from a member.
	out := cl.Etcdctl("get", "nothing", "-w", "json")
	var hdr struct {
		Header struct {
			Revision int64 `json:"revision"`
		} `json:"header"`
	}
	if err := json.Unmarshal([]byte(out), &hdr); err != nil {
		t.Fatal(err)
	}
	if info.Revision != hdr.Header.Revision {
		t.Errorf("snapshot revision %d, cluster revision %d", info.Revision, hdr.Header.Revision)
	}
	// etcd's own restore accepts it, checking the same digest.
	if out, err := etcdtest.Etcdctl(t, cl.Bins.Etcdutl, "snapshot", "restore", path, "--data-dir", filepath.Join(t.TempDir(), "restored")); err != nil {
		t.Errorf("etcdutl restore: %v\n%s", err, out)
	}
}

// TestVerifyRefusesDamage damages a good snapshot in the ways a copy goes
// wrong (a flipped bit, a truncation, a lost digest) and expects Verify to
// refuse each with ErrIntegrity, as etcdutl restore does.
func TestVerifyRefusesDamage(t *testing.T) {
	cl := clustertest.Start(t, clustertest.Options{Members: 1})
	cl.Put("k", 300, 200)
	c := open(t, cl.Dir)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	if _, err := snapshot.Save(context.Background(), c, good, snapshot.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte {
		d := append([]byte(nil), b...)
		d[i] ^= 0x01
		return d
	}
	for _, tc := range []struct {
		name        string
		data        []byte
		etcdRefuses bool // etcdutl restore refuses it too
	}{
		{"bit flipped in the data", flip(len(b) / 2), true},
		{"bit flipped in the digest", flip(len(b) - 1), true},
		{"truncated by a page", b[:len(b)-4096], true},
		{"digest cut off", b[:len(b)-32], true},
		{"empty", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "bad.db")
			if err := os.WriteFile(p, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := snapshot.Verify(p)
			if !errors.Is(err, snapshot.ErrIntegrity) {
				t.Errorf("Verify = %v, want ErrIntegrity", err)
			}
			if tc.etcdRefuses {
				out, err := etcdtest.Etcdctl(t, cl.Bins.Etcdutl, "snapshot", "restore", p, "--data-dir", filepath.Join(t.TempDir(), "r"))
				if err == nil {
					t.Errorf("etcdutl restore accepted what Verify refused:\n%s", out)
				}
			}
		})
	}
	if _, err := snapshot.Verify(good); err != nil {
		t.Errorf("good snapshot: %v", err)
	}
}

// TestSaveDeadMember points Save at a member that is down: it must fail
// fast with the reason and leave nothing behind, not even an old file
// changed.
func TestSaveDeadMember(t *testing.T) {
	cl := clustertest.Start(t, clustertest.Options{})
	c := open(t, cl.Dir)
	cl.Kill("etcd02")
	dir := t.TempDir()
	path := filepath.Join(dir, "s.db")
	if err := os.WriteFile(path, []byte("an older snapshot"), 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := snapshot.Save(context.Background(), c, path, snapshot.SaveOptions{Endpoint: cl.Member("etcd02").ClientURL})
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("Save from a dead member: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v to notice a dead member", d)
	}
	if b, _ := os.ReadFile(path); string(b) != "an older snapshot" {
		t.Errorf("old file changed: %q", b)
	}
	onlyFiles(t, dir, "s.db")

	// Without an endpoint, the dead member is skipped.
	saved, err := snapshot.Save(context.Background(), c, path, snapshot.SaveOptions{})
	if err != nil || saved.Endpoint != cl.Member("etcd01").ClientURL {
		t.Fatalf("Save: %v from %s", err, saved.Endpoint)
	}
	cl.Kill("etcd01")
	saved, err = snapshot.Save(context.Background(), c, path, snapshot.SaveOptions{})
	if err == nil {
		t.Fatalf("Save from a member without quorum succeeded, from %s", saved.Endpoint)
	}
	t.Log(err)
}

// TestSaveCancelledOrKilledMidStream interrupts a snapshot while it
// streams (a 64 MiB database, interrupted after 1 MiB arrived, far more
// than the socket and grpc buffers hold): first by cancelling the context
// (Ctrl-C), then by killing the member. Save must fail both times and
// leave no file.
func TestSaveCancelledOrKilledMidStream(t *testing.T) {
	cl := clustertest.Start(t, clustertest.Options{Members: 1})
	cl.Put("big/", 640, 100<<10)
	c := open(t, cl.Dir)
	dir := t.TempDir()
	path := filepath.Join(dir, "s.db")

	// Uninterrupted first, for the timing of a large snapshot.
	full := filepath.Join(t.TempDir(), "full.db")
	saved, err := snapshot.Save(context.Background(), c, full, snapshot.SaveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("saved %d keys, %d bytes in %v", saved.TotalKeys, saved.FileSize, saved.Duration)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var cancelledAt int64
	_, err = snapshot.Save(ctx, c, path, snapshot.SaveOptions{Progress: func(n int64) {
		if n >= 1<<20 && cancelledAt == 0 {
			cancelledAt = n
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) || cancelledAt == 0 {
		t.Fatalf("cancelled Save: %v (cancelled at %d)", err, cancelledAt)
	}
	onlyFiles(t, dir)

	var once sync.Once
	var killedAt int64
	_, err = snapshot.Save(context.Background(), c, path, snapshot.SaveOptions{Progress: func(n int64) {
		if n >= 1<<20 {
			once.Do(func() {
				killedAt = n
				cl.Kill("etcd01")
			})
		}
	}})
	if err == nil {
		t.Fatal("Save succeeded though the member was killed mid-stream")
	}
	if killedAt == 0 {
		t.Fatalf("never killed: %v", err)
	}
	t.Logf("killed after %d bytes: %v", killedAt, err)
	onlyFiles(t, dir)
}

func TestVerifyNotASnapshot(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string][]byte{
		"text":      []byte("hello"),
		"aligned":   make([]byte, 4096+32), // right size, digest of zeros does not match
		"folder/..": nil,
	} {
		p := filepath.Join(dir, strconv.Quote(name))
		if data != nil {
			os.WriteFile(p, data, 0o600)
		} else {
			os.Mkdir(p, 0o700)
		}
		if _, err := snapshot.Verify(p); err == nil {
			t.Errorf("%s: verified", name)
		}
	}
	if _, err := snapshot.Verify(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}
