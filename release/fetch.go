package release

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"time"

	"github.com/etcdimg/etcdimg/internal/durable"
)

const (
	// fetchTimeout bounds a whole download when the caller's context has no
	// deadline, so a stalled mirror cannot hang an image build forever.
	fetchTimeout = 10 * time.Minute
	// maxDownload is far above any etcd tarball (about 25 MB) and stops a
	// misbehaving server from filling the cache disk before the checksum
	// could reject it.
	maxDownload = 1 << 30
)

// Fetch returns the release at url, downloading it into cacheDir unless a
// file of the same name with the expected sha256 is already there. The file
// only appears under its final name once its checksum matched, so a failed
// or interrupted download never leaves a file that looks cached.
func Fetch(ctx context.Context, rawURL, cacheDir, version, arch, wantSHA256 string) (*Release, error) {
	want, err := normalizeSHA256(wantSHA256)
	if err != nil {
		return nil, fmt.Errorf("release fetch %s: %w", rawURL, err)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("release fetch: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("release fetch %s: want an http or https url", rawURL)
	}
	name := path.Base(u.Path)
	if name == "." || name == "/" || name == ".." || name == "" {
		return nil, fmt.Errorf("release fetch %s: url has no file name", rawURL)
	}
	dst := filepath.Join(cacheDir, name)

	if _, err := os.Stat(dst); err == nil {
		if r, err := Open(dst, version, arch, want); err == nil {
			return r, nil
		}
		// A stale or damaged cached copy is replaced below; the rename makes
		// that safe even while another process reads the old one.
	}

	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return nil, fmt.Errorf("release fetch %s: %w", rawURL, err)
	}
	// The cache folder may be reached through a link (a moved ~/.cache);
	// durable writes only into a real folder, so resolve it.
	if real, err := filepath.EvalSymlinks(cacheDir); err == nil {
		dst = filepath.Join(real, name)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, fetchTimeout)
		defer cancel()
	}
	if err := download(ctx, u.String(), dst, want); err != nil {
		if _, ok := err.(*ChecksumError); ok {
			return nil, err
		}
		return nil, fmt.Errorf("release fetch %s: %w", rawURL, err)
	}
	return Open(dst, version, arch, want)
}

func download(ctx context.Context, rawURL, dst, want string) (err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %s", resp.Status)
	}

	tmp, err := durable.Create(dst, 0o644)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Abort()
		}
	}()

	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(resp.Body, maxDownload+1))
	if err != nil {
		return fmt.Errorf("download: %w", err)
	}
	if n > maxDownload {
		return fmt.Errorf("download is larger than %d bytes; this is not an etcd release tarball", maxDownload)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return &ChecksumError{Path: rawURL, Got: got, Want: want}
	}
	// Commit syncs before the rename: a crash after it cannot leave a
	// cached file whose name promises data the disk never got.
	return tmp.Commit()
}
