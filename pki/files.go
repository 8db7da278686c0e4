package pki

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

const (
	dirMode  = 0o700
	keyMode  = 0o600
	certMode = 0o644
	// tmpInfix marks this package's temporary files, so that leftovers of a
	// killed run can be told apart from anything the user put in Dir.
	tmpInfix = ".etcdimg-tmp-"
)

// testHookBeforeRename lets tests make a write fail after the temporary file
// is complete but before it replaces the target.
var testHookBeforeRename func(path string) error

// writeFileAtomic replaces path with data so that a reader (or a crash) sees
// either the old or the new content, never a torn file.
func writeFileAtomic(path string, data []byte, mode fs.FileMode) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+tmpInfix+"*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	// Chmod instead of relying on the creation mode: the umask must not
	// widen or narrow what the layout promises.
	if err = f.Chmod(mode); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if testHookBeforeRename != nil {
		if err = testHookBeforeRename(path); err != nil {
			return err
		}
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(dir)
}

// syncDir makes a rename durable; without it a power loss can bring back the
// old directory entry even though the file data was synced.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, fs.ErrInvalid) {
		return err
	}
	return nil
}

// removeStaleTemps deletes temporary files a killed run left in dir. Only names
// carrying tmpInfix are touched.
func removeStaleTemps(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	for _, e := range entries {
		if e.Type().IsRegular() && strings.HasPrefix(e.Name(), ".") && strings.Contains(e.Name(), tmpInfix) {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	return nil
}

// readOptional reads a file that may legitimately be absent.
func readOptional(path string) (data []byte, exists bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return b, true, nil
}
