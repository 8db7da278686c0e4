// Package isoread reads seed ISOs back with go-diskfs, an ISO9660 reader
// written by other people than our writer, for tests and inspection.
package isoread

import (
	"fmt"
	iofs "io/fs"
	"strings"

	diskfs "github.com/diskfs/go-diskfs"
)

// Image is an opened ISO: its volume label and every regular file's bytes
// by slash path (no leading slash).
type Image struct {
	Label string
	Files map[string][]byte
}

// Read opens path read-only and loads every file.
func Read(path string) (*Image, error) {
	d, err := diskfs.Open(path, diskfs.WithOpenMode(diskfs.ReadOnly))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	defer d.Close()
	fsys, err := d.GetFilesystem(0)
	if err != nil {
		return nil, fmt.Errorf("%s: no filesystem: %w", path, err)
	}
	ffs, ok := fsys.(iofs.FS)
	if !ok {
		return nil, fmt.Errorf("%s: go-diskfs filesystem %T is not an fs.FS", path, fsys)
	}
	img := &Image{Label: strings.TrimRight(fsys.Label(), " "), Files: map[string][]byte{}}
	err = iofs.WalkDir(ffs, ".", func(p string, de iofs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if de.IsDir() {
			return nil
		}
		b, err := iofs.ReadFile(ffs, p)
		if err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		img.Files[p] = b
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return img, nil
}
