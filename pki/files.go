package pki

import (
	"errors"
	"io/fs"

	"github.com/etcdimg/etcdimg/internal/durable"
	"github.com/etcdimg/etcdimg/internal/inputfile"
)

const (
	dirMode  = 0o700
	keyMode  = 0o600
	certMode = 0o644
	// tmpInfix marks the temporary files of durable, which the PKI writes
	// through; leftovers of a killed run carry it.
	tmpInfix = durable.TempInfix
)

// testHookBeforeRename lets tests make a write fail before it replaces the
// target.
var testHookBeforeRename func(path string) error

// writeFileAtomic replaces path with data so that a reader (or a crash) sees
// either the old or the new content, never a torn file, and never writes
// through a link (see durable).
func writeFileAtomic(path string, data []byte, mode fs.FileMode) error {
	if testHookBeforeRename != nil {
		if err := testHookBeforeRename(path); err != nil {
			return err
		}
	}
	return durable.WriteFile(path, data, mode)
}

// removeStaleTemps deletes temporary files a killed run left in dir. Only
// etcdimg's temporary names are touched (durable.IsTemp).
func removeStaleTemps(dir string) error {
	_, err := durable.RemoveStale(dir)
	return err
}

// readOptional reads a PEM file that may legitimately be absent; a special
// file or one larger than any PEM is refused rather than read.
func readOptional(path string) (data []byte, exists bool, err error) {
	b, err := inputfile.Read(path, inputfile.MaxPEM)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return b, true, nil
}
