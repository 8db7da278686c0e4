// Package durable is the one way etcdimg puts a file on disk: written to a
// temporary file in the destination folder, fsynced, renamed over the final
// name, and the folder fsynced, so a crash leaves every path either as it
// was or complete, never half-written.
//
// It never writes through a symbolic link: the destination folder is opened
// with O_NOFOLLOW and every temporary file, rename and fsync goes through
// that folder's descriptor, so a folder swapped for a link (out/k8s01 ->
// /elsewhere) or a link at the destination name is refused with its path
// instead of being followed. Callers resolve the roots an operator names
// (-o, --pki-dir) once with filepath.EvalSymlinks; anything below a root is
// etcdimg's own and must be a real folder.
//
// Temporary files are named "."+base+TempInfix+random. A run that is killed
// leaves them behind; RemoveStale deletes them on the next run (see there).
package durable

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// TempInfix marks etcdimg's temporary files, so that leftovers of a killed
// run can be told apart from anything else in a folder.
const TempInfix = ".etcdimg-tmp-"

// ErrSymlink is wrapped by every refusal to write through a link.
var ErrSymlink = errors.New("is a symbolic link; etcdimg does not write through links it did not create (remove it or point the option at the real folder)")

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

// dir is a destination folder opened without following a link.
type dir struct {
	path string
	fd   int
}

func openDir(path string) (*dir, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) && isLink(path) {
			return nil, &os.PathError{Op: "write into", Path: path, Err: ErrSymlink}
		}
		return nil, &os.PathError{Op: "open folder", Path: path, Err: err}
	}
	return &dir{path: path, fd: fd}, nil
}

func isLink(path string) bool {
	fi, err := os.Lstat(path)
	return err == nil && fi.Mode()&os.ModeSymlink != 0
}

func (d *dir) close() { unix.Close(d.fd) }

func (d *dir) sync() error {
	if err := unix.Fsync(d.fd); err != nil && !errors.Is(err, unix.EINVAL) {
		return &os.PathError{Op: "sync folder", Path: d.path, Err: err}
	}
	return nil
}

// checkDest refuses a destination name that is a link or not a regular file.
func (d *dir) checkDest(base string) error {
	var st unix.Stat_t
	err := unix.Fstatat(d.fd, base, &st, unix.AT_SYMLINK_NOFOLLOW)
	p := filepath.Join(d.path, base)
	switch {
	case errors.Is(err, unix.ENOENT):
		return nil
	case err != nil:
		return &os.PathError{Op: "stat", Path: p, Err: err}
	case st.Mode&unix.S_IFMT == unix.S_IFLNK:
		return &os.PathError{Op: "write", Path: p, Err: ErrSymlink}
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		return &os.PathError{Op: "write", Path: p, Err: errors.New("exists and is not a regular file; move it away")}
	}
	return nil
}

// readExisting returns the current content of base if it is a regular
// file, never following a link.
func (d *dir) readExisting(base string) ([]byte, bool) {
	fd, err := unix.Openat(d.fd, base, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, false
	}
	f := os.NewFile(uintptr(fd), filepath.Join(d.path, base))
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return nil, false
	}
	b, err := io.ReadAll(f)
	return b, err == nil
}

// createTemp makes a new temporary file for base in d, mode 0600 until the
// caller sets the final mode.
func (d *dir) createTemp(base string) (*os.File, string, error) {
	for range 100 {
		var r [6]byte
		if _, err := rand.Read(r[:]); err != nil {
			return nil, "", err
		}
		name := "." + base + TempInfix + hex.EncodeToString(r[:])
		fd, err := unix.Openat(d.fd, name, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if errors.Is(err, unix.EEXIST) {
			continue
		}
		if err != nil {
			return nil, "", &os.PathError{Op: "create temporary file in", Path: d.path, Err: err}
		}
		return os.NewFile(uintptr(fd), filepath.Join(d.path, name)), name, nil
	}
	return nil, "", fmt.Errorf("create temporary file in %s: too many collisions", d.path)
}

func (d *dir) rename(tmp, base string) error {
	if err := d.checkDest(base); err != nil {
		return err
	}
	if err := unix.Renameat(d.fd, tmp, d.fd, base); err != nil {
		return &os.PathError{Op: "rename into", Path: filepath.Join(d.path, base), Err: err}
	}
	return nil
}

// Pending is a file being written: a temporary file beside its final name,
// which Commit renames into place and Abort removes.
type Pending struct {
	f      *os.File
	d      *dir
	path   string
	tmp    string
	mode   os.FileMode
	closed bool
}

// Create starts writing path with the given mode (applied exactly, whatever
// the umask). The caller writes through Write or File and then calls
// Commit, or Abort on failure; until Commit, path is untouched.
func Create(path string, mode os.FileMode) (*Pending, error) {
	d, err := openDir(dirOf(path))
	if err != nil {
		return nil, err
	}
	base := filepath.Base(path)
	if err := d.checkDest(base); err != nil {
		d.close()
		return nil, err
	}
	f, tmp, err := d.createTemp(base)
	if err != nil {
		d.close()
		return nil, err
	}
	// Lock the temporary file while it is being written, so RemoveStale in
	// another run (which needs LOCK_EX) leaves it alone; a killed run's lock
	// dies with it. Shared, so a reader that checks the file before Commit
	// (bbolt, read-only, takes LOCK_SH) is not blocked.
	_ = unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB)
	return &Pending{f: f, d: d, path: path, tmp: tmp, mode: mode}, nil
}

// Write appends to the file.
func (p *Pending) Write(b []byte) (int, error) { return p.f.Write(b) }

// File is the temporary file, for writers that seek, write at offsets,
// truncate or copy from another file (copy_file_range needs the *os.File).
func (p *Pending) File() *os.File { return p.f }

// Path is the final name.
func (p *Pending) Path() string { return p.path }

// Commit sets the mode, syncs the data, renames the file into place and
// syncs the folder. On error the temporary file is removed and path is as
// it was, except when only the final folder sync failed: the file is
// complete at path then, and stays.
func (p *Pending) Commit() (err error) {
	if p.closed {
		return errors.New("durable: commit after commit or abort")
	}
	defer func() {
		if err != nil {
			p.Abort()
		}
	}()
	if err := p.f.Chmod(p.mode); err != nil {
		return err
	}
	if err := p.f.Sync(); err != nil {
		return &os.PathError{Op: "sync", Path: p.f.Name(), Err: err}
	}
	if err := p.d.rename(p.tmp, filepath.Base(p.path)); err != nil {
		return err
	}
	p.closed = true
	cerr := p.f.Close()
	serr := p.d.sync()
	p.d.close()
	return errors.Join(cerr, serr)
}

// Abort discards the file; path is left as it was. It is safe to call after
// Commit (it does nothing then) and more than once.
func (p *Pending) Abort() error {
	if p.closed {
		return nil
	}
	p.closed = true
	p.f.Close()
	err := unix.Unlinkat(p.d.fd, p.tmp, 0)
	p.d.close()
	if err != nil && !errors.Is(err, unix.ENOENT) {
		return &os.PathError{Op: "remove", Path: p.f.Name(), Err: err}
	}
	return nil
}

func dirOf(path string) string {
	d := filepath.Dir(path)
	if d == "" {
		return "."
	}
	return d
}

// WriteBatch replaces each path with its data, or leaves it as it was. An
// unchanged file is not rewritten, so mtimes only move when content does.
// Every temporary file is written, then all are fsynced together, and only
// then renamed into place, so a crash leaves each path either as it was or
// complete; the folders are fsynced last so the renames last too. Nothing is
// written unless every destination folder opens without following a link
// and no destination is a link.
func WriteBatch(files []File) (err error) {
	dirs := map[string]*dir{}
	var order []*dir
	defer func() {
		for _, d := range order {
			d.close()
		}
	}()
	// Check every destination before the first temporary file exists.
	for _, f := range files {
		dp := dirOf(f.Path)
		d, ok := dirs[dp]
		if !ok {
			if d, err = openDir(dp); err != nil {
				return err
			}
			dirs[dp] = d
			order = append(order, d)
		}
		if err := d.checkDest(filepath.Base(f.Path)); err != nil {
			return err
		}
	}
	type tmpFile struct {
		d         *dir
		tmp, base string
		name      string
	}
	var tmps []tmpFile
	defer func() {
		if err != nil {
			for _, t := range tmps {
				unix.Unlinkat(t.d.fd, t.tmp, 0) // gone already once renamed
			}
		}
	}()
	for _, f := range files {
		d, base := dirs[dirOf(f.Path)], filepath.Base(f.Path)
		if old, ok := d.readExisting(base); ok && bytes.Equal(old, f.Data) {
			continue
		}
		tf, tmp, err := d.createTemp(base)
		if err != nil {
			return err
		}
		tmps = append(tmps, tmpFile{d, tmp, base, tf.Name()})
		_, err = tf.Write(f.Data)
		if err == nil {
			// Chmod, not the umask-bent create mode.
			err = tf.Chmod(f.Mode)
		}
		if cerr := tf.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	names := make([]string, len(tmps))
	for i, t := range tmps {
		names[i] = t.name
	}
	if err := SyncAll(names); err != nil {
		return err
	}
	touched := map[*dir]bool{}
	for _, t := range tmps {
		if err := t.d.rename(t.tmp, t.base); err != nil {
			return err
		}
		touched[t.d] = true
	}
	var errs []error
	for _, d := range order {
		if touched[d] {
			errs = append(errs, d.sync())
		}
	}
	return errors.Join(errs...)
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
			f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NOFOLLOW, 0)
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

// IsTemp says whether name is one of etcdimg's temporary files: the current
// pattern, and those of earlier versions (".name.tmp-*" and the image
// writers' "name.tmp-iso*"), so their leftovers are cleaned up too.
func IsTemp(name string) bool {
	switch {
	case strings.Contains(name, TempInfix):
		return strings.HasPrefix(name, ".")
	case strings.Contains(name, ".tmp-iso"):
		return true
	case strings.HasPrefix(name, ".") && strings.Contains(name, ".tmp-"):
		return true
	}
	return false
}

// RemoveStale deletes the temporary files a killed run left in folder (not
// below it) and returns their names. Only regular files whose names match
// IsTemp are touched, never through a link, and never one another run is
// still writing: Create holds a lock on its temporary file, and WriteBatch's
// short-lived ones are covered by the folder lock (Lock) callers hold while
// they write. Call it only on folders etcdimg owns.
func RemoveStale(folder string) ([]string, error) {
	d, err := openDir(folder)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	defer d.close()
	dup, err := unix.Dup(d.fd)
	if err != nil {
		return nil, &os.PathError{Op: "read folder", Path: folder, Err: err}
	}
	f := os.NewFile(uintptr(dup), folder)
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return nil, &os.PathError{Op: "read folder", Path: folder, Err: err}
	}
	var removed []string
	for _, name := range names {
		if !IsTemp(name) {
			continue
		}
		fd, err := unix.Openat(d.fd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err != nil {
			continue // a link, or gone already
		}
		var st unix.Stat_t
		busy := unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG ||
			unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB) != nil
		if !busy {
			if err := unix.Unlinkat(d.fd, name, 0); err == nil {
				removed = append(removed, name)
			} else if !errors.Is(err, unix.ENOENT) {
				unix.Close(fd)
				return removed, &os.PathError{Op: "remove", Path: filepath.Join(folder, name), Err: err}
			}
		}
		unix.Close(fd)
	}
	if len(removed) > 0 {
		if err := d.sync(); err != nil {
			return removed, err
		}
	}
	return removed, nil
}

// CheckFolder refuses a folder etcdimg writes into that is a link or not a
// folder; a missing one is fine (it will be made by Mkdir).
func CheckFolder(path string) error {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return err
	case fi.Mode()&os.ModeSymlink != 0:
		return &os.PathError{Op: "write into", Path: path, Err: ErrSymlink}
	case !fi.IsDir():
		return &os.PathError{Op: "write into", Path: path, Err: errors.New("exists and is not a folder; move it away")}
	}
	return nil
}

// Mkdir makes the folder path (its parent must exist) with mode, or checks
// that the one there is a real folder and not a link.
func Mkdir(path string, mode os.FileMode) error {
	if err := os.Mkdir(path, mode); err == nil || !errors.Is(err, os.ErrExist) {
		return err
	}
	return CheckFolder(path)
}

// Lock takes an exclusive lock on folder, an flock on the folder itself,
// held until unlock is called or the process ends (a killed run never
// leaves a stale lock). When another process holds it, waiting (if set) is
// called once and Lock retries until timeout, then fails naming the folder.
func Lock(folder string, timeout time.Duration, waiting func()) (unlock func(), err error) {
	d, err := openDir(folder)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(timeout)
	told := false
	for {
		err := unix.Flock(d.fd, unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { unix.Flock(d.fd, unix.LOCK_UN); d.close() }, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			d.close()
			return nil, &os.PathError{Op: "lock", Path: folder, Err: err}
		}
		if !time.Now().Before(deadline) {
			d.close()
			return nil, fmt.Errorf("%s is in use by another etcdimg run (waited %s); try again when it has finished", folder, timeout)
		}
		if !told && waiting != nil {
			waiting()
			told = true
		}
		time.Sleep(50 * time.Millisecond)
	}
}
