package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/etcdimg/etcdimg/etcdclient"
	"github.com/etcdimg/etcdimg/internal/durable"
)

// SaveOptions tune Save.
type SaveOptions struct {
	// Endpoint is the member to take the snapshot from. A snapshot is one
	// member's database at one moment, so it comes from exactly one
	// member; empty picks one (see PickEndpoint).
	Endpoint string
	// Progress, when set, is called from the saving goroutine with the
	// bytes received so far, after every chunk.
	Progress func(received int64)
}

// Saved is the result of Save.
type Saved struct {
	Info
	Endpoint string        `json:"endpoint"`
	Version  string        `json:"etcdVersion,omitempty"` // the member's storage version, as etcdctl reports it
	Duration time.Duration `json:"-"`
}

// Save streams a snapshot from one member into a temporary file beside
// path, fsyncs it, verifies it with Verify and only then renames it over
// path (mode 0600: a snapshot holds every key and secret of the cluster)
// and fsyncs the folder. On any failure, including a cancelled ctx or a
// member that dies mid-stream, the temporary file is removed and path is
// left as it was: a file under the final name is always a complete,
// verified snapshot. path is replaced if it exists; a symlink there, or a
// folder of path that is one, is refused (see durable), never written
// through.
func Save(ctx context.Context, c *etcdclient.Client, path string, o SaveOptions) (saved Saved, err error) {
	start := time.Now()
	ep := o.Endpoint
	if ep == "" {
		if ep, err = PickEndpoint(ctx, c); err != nil {
			return saved, err
		}
	}
	saved.Endpoint = ep
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); err != nil {
		return saved, fmt.Errorf("snapshot folder: %w", err)
	} else if !fi.IsDir() {
		return saved, fmt.Errorf("snapshot folder %s: not a folder", dir)
	}
	if fi, err := os.Lstat(path); err == nil && fi.IsDir() {
		return saved, fmt.Errorf("%s is a folder; name the snapshot file", path)
	}

	// durable.Create: a 0600 temporary file beside path (O_EXCL, never
	// through a link), renamed over path only by Commit.
	// The folder is the operator's choice and may be reached through a
	// link; durable writes only into a real folder, so resolve it.
	dest := path
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dest = filepath.Join(real, filepath.Base(path))
	}
	tmp, err := durable.Create(dest, 0o600)
	if err != nil {
		return saved, err
	}
	defer func() {
		if err != nil {
			tmp.Abort()
		}
	}()

	// A handshake first: it fails within the dial timeout with the real
	// reason (refused, unreachable, bad certificate), where the snapshot
	// stream would keep retrying a member that is down.
	if _, _, err = c.Handshake(ctx, ep); err != nil {
		return saved, fmt.Errorf("snapshot from %s: %w", ep, err)
	}
	mc, err := c.Member(ep)
	if err != nil {
		return saved, err
	}
	defer mc.Close()
	// The stream lives as long as ctx, so a big database is not cut off by
	// the per-request timeout; a dead member ends it through keepalives.
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	resp, err := mc.SnapshotWithVersion(sctx)
	if err != nil {
		return saved, fmt.Errorf("snapshot from %s: %w", ep, err)
	}
	defer resp.Snapshot.Close()
	saved.Version = resp.Version
	w := &counter{w: tmp, progress: o.Progress}
	if _, err = io.Copy(w, resp.Snapshot); err != nil {
		return saved, fmt.Errorf("snapshot from %s: after %d bytes: %w", ep, w.n, err)
	}
	if !hasDigest(w.n) {
		return saved, fmt.Errorf("snapshot from %s: %w: the stream ended after %d bytes without etcd's sha256", ep, ErrIntegrity, w.n)
	}
	// Verified under its temporary name, so only a good snapshot is ever
	// renamed into place.
	info, err := Verify(tmp.File().Name())
	if err != nil {
		return saved, fmt.Errorf("snapshot from %s: %w", ep, err)
	}
	// Commit: fsync, rename over path, fsync the folder.
	if err = tmp.Commit(); err != nil {
		return saved, err
	}
	info.Path = path
	saved.Info = info
	saved.Duration = time.Since(start)
	return saved, nil
}

type counter struct {
	w        io.Writer
	n        int64
	progress func(int64)
}

func (c *counter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	if c.progress != nil {
		c.progress(c.n)
	}
	return n, err
}

// PickEndpoint chooses the member to snapshot when none was named: the
// first voting member, in cluster.json's order, that is healthy as etcdctl
// endpoint health judges it (a linearizable read through it succeeds, so
// it is part of a quorum and has applied what the cluster committed). A
// learner may still be catching up, and a member cut off from the quorum
// may be behind: neither is picked.
func PickEndpoint(ctx context.Context, c *etcdclient.Client) (string, error) {
	var errs []error
	for _, ep := range c.Cluster.Endpoints() {
		if err := healthyVoter(ctx, c, ep); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", ep, err))
			continue
		}
		return ep, nil
	}
	return "", fmt.Errorf("no healthy member to take a snapshot from: %w", errors.Join(errs...))
}

func healthyVoter(ctx context.Context, c *etcdclient.Client, ep string) error {
	// The handshake tells a dead member apart within the dial timeout.
	if _, _, err := c.Handshake(ctx, ep); err != nil {
		return err
	}
	mc, err := c.Member(ep)
	if err != nil {
		return err
	}
	defer mc.Close()
	sctx, cancel := c.Ctx(ctx)
	defer cancel()
	s, err := mc.Status(sctx, ep)
	switch {
	case err != nil:
		return err
	case len(s.Errors) > 0:
		return fmt.Errorf("member reports %v", s.Errors)
	case s.IsLearner:
		return errors.New("a learner")
	}
	if _, err := mc.Get(sctx, "health"); err != nil && !errors.Is(err, rpctypes.ErrPermissionDenied) {
		return fmt.Errorf("unhealthy: %w", err)
	}
	return nil
}
