// Package inputfile opens the files a spec or a flag names (the spec itself,
// CA certificate and key, release tarball) so that a special file cannot
// hang or exhaust a run: only a regular file (or a link to one) is read, and
// only up to a size bound. /dev/zero would otherwise be read until memory
// runs out, and a FIFO would block forever in open(2).
package inputfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// Size bounds, far above any real input and far below a machine's memory.
const (
	MaxSpec    = 16 << 20 // a Jsonnet spec
	MaxPEM     = 1 << 20  // a certificate bundle or a key
	MaxTarball = 1 << 30  // an etcd release tarball (about 25 MB)
)

// ErrNotRegular is wrapped by the refusal of a device, FIFO, socket or folder.
var ErrNotRegular = errors.New("is not a regular file")

// Open opens path for reading, following links, after checking that it is a
// regular file of at most max bytes. The open itself never blocks: a FIFO is
// opened non-blocking and refused.
func Open(path string, max int64) (*os.File, fs.FileInfo, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err == nil {
		err = Check(path, fi, max)
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	// Regular files ignore O_NONBLOCK, but clear it so reads are ordinary.
	if err := syscall.SetNonblock(int(f.Fd()), false); err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, fi, nil
}

// Check refuses a file that is not regular or larger than max.
func Check(path string, fi fs.FileInfo, max int64) error {
	if !fi.Mode().IsRegular() {
		return &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w (%s)", ErrNotRegular, kind(fi.Mode()))}
	}
	if fi.Size() > max {
		return &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("is %d bytes, more than the %d this input may have", fi.Size(), max)}
	}
	return nil
}

// Stat checks path (following links) without keeping it open; for callers
// that hand the name to a library which opens it itself.
func Stat(path string, max int64) error {
	f, _, err := Open(path, max)
	if err != nil {
		return err
	}
	return f.Close()
}

// Read reads the whole of path, refusing what Open refuses and a file that
// grows past max while it is read.
func Read(path string, max int64) ([]byte, error) {
	f, _, err := Open(path, max)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: path, Err: err}
	}
	if int64(len(b)) > max {
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("grew past %d bytes while being read", max)}
	}
	return b, nil
}

func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a folder"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	}
	return "a special file"
}
