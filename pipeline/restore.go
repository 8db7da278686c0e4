package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/etcdimg/etcdimg/model"
	"github.com/etcdimg/etcdimg/snapshot"
)

// prepareRestore checks the snapshot of `build --restore-from` with etcd's
// own integrity check before anything is written, pins it by the sha256 of
// the whole file (the seeds carry it, and first boot checks it, like the
// release), and turns c into the cluster restored from it: a new token,
// derived from the old one and the snapshot, so the same inputs give the
// same seeds.
func prepareRestore(c *model.Cluster, path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	info, err := snapshot.Verify(abs)
	if err != nil {
		return fmt.Errorf("%v; not restoring from it", err)
	}
	f, err := os.Open(abs)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return err
	}
	if n != info.FileSize {
		return fmt.Errorf("%s changed while it was checked (%d bytes, then %d); not restoring from it", path, info.FileSize, n)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	r := &model.Restore{SHA256: sum, Size: n, Path: abs, Token: model.RestoreToken(c.Token, sum),
		Revision: info.Revision, Keys: info.TotalKeys}
	c.Token = r.Token
	c.Restore = r
	return nil
}
