package images

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"
	"unicode/utf8"
)

// File is one regular file of the image.
type File struct {
	// Path is slash-separated and relative, e.g. "user-data" or
	// "pki/server.key"; parent directories are implied.
	Path string
	// Mode holds the permission bits (setuid, setgid and sticky allowed)
	// recorded in Rock Ridge PX, e.g. 0o444 or 0o400. It is recorded as
	// given: zero means mode 0000.
	Mode fs.FileMode
	// UID and GID are the Rock Ridge owner.
	UID, GID uint32
	// Data is the content. A nil Data means "no Data": an empty file needs a
	// non-nil empty slice, so that forgetting both Data and SourcePath is
	// caught instead of silently giving an empty file.
	Data []byte
	// SourcePath is a host file streamed into place instead of Data. Its size
	// is taken by Stat when the image is laid out; the bytes copied later
	// must match it exactly, so a file that changes size during the build is
	// an error rather than a corrupt image.
	SourcePath string
}

// Options are the image-wide settings.
type Options struct {
	// VolumeID is written as given (lower case kept, e.g. "cidata", which
	// cloud-init looks for), space padded to 32 bytes. It must be printable
	// ASCII. Joliet's volume id holds only 16 characters and gets the first 16.
	VolumeID string
	// ModTime is the only time source of the image: volume descriptors,
	// directory records and Rock Ridge TF all record it, in UTC. The zero
	// value means DefaultModTime. Its year must lie in 1900-2155, the range
	// of a directory record's date.
	ModTime time.Time
	// Publisher and Application are optional volume descriptor strings of
	// printable ASCII, at most 128 bytes (Joliet keeps the first 64).
	Publisher, Application string
	// FileMode is the mode of the image file WriteFile and WriteVFAT write,
	// set exactly whatever the umask; zero means 0644. A seed that carries
	// a private key must be 0600.
	FileMode fs.FileMode
}

func (o Options) fileMode() fs.FileMode {
	if o.FileMode == 0 {
		return 0o644
	}
	return o.FileMode.Perm()
}

// DefaultModTime is used when Options.ModTime is zero, so that an image built
// without a time is still reproducible.
var DefaultModTime = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)

// Limits enforced when the image is planned.
const (
	// MaxNameBytes bounds one path component; it keeps every directory
	// record, with its Rock Ridge fields, within the 255 bytes a record has.
	MaxNameBytes = 100
	// MaxFileSize is the first size that does not fit one ISO 9660 extent;
	// multi-extent files are not written.
	MaxFileSize = 1 << 32
	// MaxDepth is the ECMA-119 limit on directory levels, root included;
	// deeper trees would need Rock Ridge relocation, which is not written.
	MaxDepth = 8
	// jolietMaxName is the Joliet limit on a name, in UCS-2 characters.
	jolietMaxName = 64
)

// Write writes the image for files to w, front to back without seeking, and
// returns the number of bytes written. All validation (paths, sizes, sources
// by Stat) happens before the first byte is written. File data from a
// SourcePath goes through io.Copy, so an *os.File destination gets it by
// copy_file_range or sendfile.
func Write(w io.Writer, files []File, opts Options) (int64, error) {
	p, err := newPlan(files, opts)
	if err != nil {
		return 0, err
	}
	return p.writeTo(w)
}

// Size returns the number of bytes Write would write for files, after the same
// validation, without writing anything.
func Size(files []File, opts Options) (int64, error) {
	p, err := newPlan(files, opts)
	if err != nil {
		return 0, err
	}
	return int64(p.totalSectors) * sectorSize, nil
}

// WriteFile writes the image to path with mode Options.FileMode. It writes a temporary
// file beside path (so the final rename stays on one filesystem and is
// atomic), fsyncs it and renames it into place only when everything worked;
// on any error the temporary file is removed and path is left untouched, so no
// half-written ISO remains.
func WriteFile(path string, files []File, opts Options) error {
	p, err := newPlan(files, opts)
	if err != nil {
		return err
	}
	return p.writeFile(path, opts.fileMode())
}

// CheckModTime says whether an ISO can record t (Options.ModTime): a
// directory record's year lies in 1900-2155. Callers check it before they
// write anything else.
func CheckModTime(t time.Time) error {
	if t.IsZero() {
		return nil
	}
	if y := t.UTC().Year(); y < 1900 || y > 2155 {
		return fmt.Errorf("images: mod time %s is outside 1900-2155, the years an ISO 9660 directory record can hold", t.UTC().Format(time.RFC3339))
	}
	return nil
}

// pathError names the offending path in every validation message; format
// may use %w so that callers can still test the cause with errors.Is.
func pathError(p, format string, args ...any) error {
	return fmt.Errorf("images: %q: "+format, append([]any{p}, args...)...)
}

// newPlan validates the input and fixes every byte position of the image.
func newPlan(files []File, opts Options) (*plan, error) {
	p := &plan{opts: opts, modTime: opts.ModTime}
	if p.modTime.IsZero() {
		p.modTime = DefaultModTime
	}
	p.modTime = p.modTime.UTC()
	if err := CheckModTime(p.modTime); err != nil {
		return nil, err
	}
	if err := checkASCII("volume id", opts.VolumeID, 32); err != nil {
		return nil, err
	}
	if err := checkASCII("publisher", opts.Publisher, 128); err != nil {
		return nil, err
	}
	if err := checkASCII("application", opts.Application, 128); err != nil {
		return nil, err
	}

	p.root = &node{isDir: true}
	p.root.parent = p.root
	for i := range files {
		if err := p.add(i, &files[i]); err != nil {
			return nil, err
		}
	}
	if err := p.layout(); err != nil {
		return nil, err
	}
	return p, nil
}

func checkASCII(what, s string, max int) error {
	if len(s) > max {
		return fmt.Errorf("images: %s %q is longer than %d bytes", what, s, max)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return fmt.Errorf("images: %s %q is not printable ascii", what, s)
		}
	}
	return nil
}

// add validates files[i] and hangs it into the tree.
func (p *plan) add(i int, f *File) error {
	if f.Path == "" {
		// No path to name, so name the position.
		return fmt.Errorf("images: files[%d]: empty path", i)
	}
	if strings.HasPrefix(f.Path, "/") {
		return pathError(f.Path, "absolute path, want a relative one")
	}
	parts := strings.Split(f.Path, "/")
	if len(parts) > MaxDepth {
		return pathError(f.Path, "more than %d directory levels", MaxDepth)
	}
	for _, c := range parts {
		switch {
		case c == "":
			return pathError(f.Path, "empty path component")
		case c == "." || c == "..":
			return pathError(f.Path, "path component %q not allowed", c)
		case len(c) > MaxNameBytes:
			return pathError(f.Path, "name %q is longer than %d bytes", c, MaxNameBytes)
		case !utf8.ValidString(c):
			return pathError(f.Path, "name is not valid utf-8")
		case strings.IndexByte(c, 0) >= 0:
			return pathError(f.Path, "name contains a nul byte")
		}
	}
	if f.Mode&^(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != 0 {
		return pathError(f.Path, "mode %#o has bits other than permissions (setuid, setgid and sticky are fs.ModeSetuid, fs.ModeSetgid, fs.ModeSticky)", uint32(f.Mode))
	}

	var size int64
	switch {
	case f.Data != nil && f.SourcePath != "":
		return pathError(f.Path, "both data and source path set, want exactly one")
	case f.Data == nil && f.SourcePath == "":
		return pathError(f.Path, "neither data nor source path set (an empty file needs non-nil empty data)")
	case f.Data != nil:
		size = int64(len(f.Data))
	default:
		st, err := os.Stat(f.SourcePath)
		if err != nil {
			return pathError(f.Path, "source: %w", err)
		}
		if !st.Mode().IsRegular() {
			return pathError(f.Path, "source %q is not a regular file", f.SourcePath)
		}
		size = st.Size()
	}
	if size >= MaxFileSize {
		return pathError(f.Path, "size %d is not below the 4 GiB limit of one extent", size)
	}

	dir := p.root
	for i, c := range parts[:len(parts)-1] {
		child := dir.child(c)
		switch {
		case child == nil:
			child = &node{name: c, isDir: true, parent: dir}
			dir.children = append(dir.children, child)
			dir.index[c] = child
		case !child.isDir:
			return pathError(f.Path, "%q is both a file and a directory", strings.Join(parts[:i+1], "/"))
		}
		dir = child
	}
	name := parts[len(parts)-1]
	if prev := dir.child(name); prev != nil {
		if prev.isDir {
			return pathError(f.Path, "path is both a file and a directory")
		}
		return pathError(f.Path, "duplicate path")
	}
	n := &node{name: name, parent: dir, file: f, size: size}
	dir.children = append(dir.children, n)
	dir.index[name] = n
	return nil
}

// child looks a name up; the index is a map used only for look-ups, never
// iterated, so it cannot make the output depend on map order.
func (n *node) child(name string) *node {
	if n.index == nil {
		n.index = make(map[string]*node)
	}
	return n.index[name]
}
