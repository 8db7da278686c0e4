package release

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// server serves body at /etcd-v3.6.16-linux-amd64.tar.gz and counts the
// requests, so tests can tell a cache hit from a download.
func server(t *testing.T, body []byte) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path != "/"+FileName(testVersion, "amd64") {
			http.NotFound(w, r)
			return
		}
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestFetchGoodThenCached(t *testing.T) {
	data := tarGz(t, goodEntries(DirName(testVersion, "amd64")))
	srv, hits := server(t, data)
	cache := filepath.Join(t.TempDir(), "cache")
	url := srv.URL + "/" + FileName(testVersion, "amd64")

	r, err := Fetch(ctx(t), url, cache, testVersion, "amd64", sum(data))
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if r.Path != filepath.Join(cache, FileName(testVersion, "amd64")) || r.SHA256 != sum(data) || r.Size != int64(len(data)) {
		t.Errorf("Fetch = %+v", *r)
	}
	fi, err := os.Stat(r.Path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("cached file mode = %v, want 0644", fi.Mode().Perm())
	}
	if got := dirNames(t, cache); len(got) != 1 {
		t.Errorf("cache holds %v, want only the tarball", got)
	}

	if _, err := Fetch(ctx(t), url, cache, testVersion, "amd64", sum(data)); err != nil {
		t.Fatalf("second Fetch: %v", err)
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("server saw %d requests, want 1: the second Fetch should use the cache", n)
	}
}

func TestFetchReplacesDamagedCache(t *testing.T) {
	data := tarGz(t, goodEntries(DirName(testVersion, "amd64")))
	srv, hits := server(t, data)
	cache := t.TempDir()
	dst := filepath.Join(cache, FileName(testVersion, "amd64"))
	if err := os.WriteFile(dst, data[:len(data)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Fetch(ctx(t), srv.URL+"/"+FileName(testVersion, "amd64"), cache, testVersion, "amd64", sum(data)); err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("server saw %d requests, want 1", n)
	}
	got, err := os.ReadFile(dst)
	if err != nil || sum(got) != sum(data) {
		t.Errorf("cached file was not replaced by the download (err %v)", err)
	}
}

func TestFetch404(t *testing.T) {
	srv, _ := server(t, nil)
	cache := filepath.Join(t.TempDir(), "cache")
	_, err := Fetch(ctx(t), srv.URL+"/nope.tar.gz", cache, testVersion, "amd64", strings.Repeat("0", 64))
	if err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("Fetch = %v, want an error naming the 404", err)
	}
	if got := dirNames(t, cache); len(got) != 0 {
		t.Errorf("cache holds %v after a 404, want nothing", got)
	}
}

func TestFetchChecksumMismatchLeavesNothing(t *testing.T) {
	data := tarGz(t, goodEntries(DirName(testVersion, "amd64")))
	srv, _ := server(t, data)
	cache := t.TempDir()
	want := strings.Repeat("ab", 32)
	_, err := Fetch(ctx(t), srv.URL+"/"+FileName(testVersion, "amd64"), cache, testVersion, "amd64", want)
	var ce *ChecksumError
	if !errors.As(err, &ce) {
		t.Fatalf("Fetch = %v, want a *ChecksumError", err)
	}
	if !strings.Contains(err.Error(), sum(data)) || !strings.Contains(err.Error(), want) {
		t.Errorf("error %q should name both sums", err)
	}
	if got := dirNames(t, cache); len(got) != 0 {
		t.Errorf("cache holds %v after a sha256 mismatch, want nothing", got)
	}
}

func TestFetchBadLayoutIsReported(t *testing.T) {
	// The sum is right but the content is not a release: the download stays
	// (it is what was asked for) and Open says what is wrong with it.
	data := tarGz(t, goodEntries("etcd-v3.5.0-linux-amd64"))
	srv, _ := server(t, data)
	_, err := Fetch(ctx(t), srv.URL+"/"+FileName(testVersion, "amd64"), t.TempDir(), testVersion, "amd64", sum(data))
	if err == nil || !strings.Contains(err.Error(), "top folder") {
		t.Fatalf("Fetch = %v, want a top folder error", err)
	}
}

func TestFetchContextCanceled(t *testing.T) {
	unblock := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000000")
		w.Write([]byte("partial"))
		w.(http.Flusher).Flush()
		select {
		case <-unblock:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(unblock) })

	cache := t.TempDir()
	c, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Fetch(c, srv.URL+"/"+FileName(testVersion, "amd64"), cache, testVersion, "amd64", strings.Repeat("0", 64))
	if err == nil {
		t.Fatal("Fetch succeeded on a stalled server")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Fetch took %v to give up, want about the context timeout", d)
	}
	if got := dirNames(t, cache); len(got) != 0 {
		t.Errorf("cache holds %v after an interrupted download, want nothing", got)
	}
}

func TestFetchBadArgs(t *testing.T) {
	for _, tt := range []struct{ url, sum, want string }{
		{"ftp://example.invalid/x.tar.gz", strings.Repeat("0", 64), "http or https"},
		{"http://127.0.0.1:1/", strings.Repeat("0", 64), "no file name"},
		{"http://127.0.0.1:1/x.tar.gz", "123", "64 hex"},
	} {
		_, err := Fetch(ctx(t), tt.url, t.TempDir(), testVersion, "amd64", tt.sum)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Fetch(%q, sum %q) = %v, want an error containing %q", tt.url, tt.sum, err, tt.want)
		}
	}
}
