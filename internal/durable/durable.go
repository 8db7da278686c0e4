// Package durable is the one way etcdimg puts a file on disk: written to a
// temporary file in the destination folder, fsynced, renamed over the final
// name, and the folder fsynced, so a crash leaves every path either as it
// was or complete, never half-written.
package durable

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sync"
)

// File is one file to write.
type File struct {
	Path string
	Data []byte
	Mode os.FileMode
}

// WriteFile replaces path with data, or leaves it as it was.
func WriteFile(path string, data []byte, mode os.FileMode) error {
	return WriteBatch([]File{{path, data, mode}})
}

// syncWidth bounds concurrent fsyncs. Each fsync is a flush of the disk's
// cache, a millisecond or more; issued together the kernel merges them, so
// 300 files cost about what one does, where one after another they took
// most of a 100-node `render -o`.
const syncWidth = 32

// WriteBatch replaces each path with its data, or leaves it as it was. An
// unchanged file is not rewritten, so mtimes only move when content does.
// Every temporary file is written, then all are fsynced together, and only
// then renamed into place, so a crash leaves each path either as it was or
// complete; the folders are fsynced last so the renames last too.
func WriteBatch(files []File) (err error) {
	var tmps, dsts []string
	defer func() {
		if err != nil {
			for _, t := range tmps {
				os.Remove(t) // gone already once renamed
			}
		}
	}()
	for _, f := range files {
		if old, rerr := os.ReadFile(f.Path); rerr == nil && bytes.Equal(old, f.Data) {
			continue
		}
		tmp, err := os.CreateTemp(filepath.Dir(f.Path), "."+filepath.Base(f.Path)+".tmp-*")
		if err != nil {
			return err
		}
		tmps, dsts = append(tmps, tmp.Name()), append(dsts, f.Path)
		_, err = tmp.Write(f.Data)
		if err == nil {
			// Chmod, not the umask-bent create mode.
			err = tmp.Chmod(f.Mode)
		}
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	if err := SyncAll(tmps); err != nil {
		return err
	}
	seen := map[string]bool{}
	var dirs []string
	for i, t := range tmps {
		if err := os.Rename(t, dsts[i]); err != nil {
			return err
		}
		if d := filepath.Dir(dsts[i]); !seen[d] {
			seen[d] = true
			dirs = append(dirs, d)
		}
	}
	return SyncAll(dirs)
}

// SyncAll fsyncs the files or folders at paths, syncWidth at a time; a
// read-only descriptor is enough for fsync on Linux, and opening each one
// only for its fsync keeps a thousand-node batch within the open-file limit.
func SyncAll(paths []string) error {
	errs := make([]error, len(paths))
	sem := make(chan struct{}, syncWidth)
	var wg sync.WaitGroup
	for i, p := range paths {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			f, err := os.Open(p)
			if err == nil {
				err = f.Sync()
				if cerr := f.Close(); err == nil {
					err = cerr
				}
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
