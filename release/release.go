// Package release checks and fetches the etcd release tarball that a seed ISO
// carries, so that a wrong or damaged tarball is refused while building the
// image instead of surfacing as a failed etcd install on an offline VM.
package release

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/etcdimg/etcdimg/internal/durable"
	"github.com/etcdimg/etcdimg/internal/inputfile"
)

// Release is an etcd linux release tarball whose checksum, layout and
// binaries' machine have been verified.
type Release struct {
	Version string // without the leading "v", e.g. "3.6.16"
	Arch    string // "amd64" or "arm64"
	Name    string // file base name, e.g. "etcd-v3.6.16-linux-amd64.tar.gz"
	Path    string // absolute path of the tarball
	SHA256  string // lowercase hex
	Size    int64
	Dir     string // top folder in the tarball, e.g. "etcd-v3.6.16-linux-amd64"
}

// Binaries are the files every etcd release tarball must hold in its top
// folder; the seed ISO installs exactly these.
var Binaries = []string{"etcd", "etcdctl", "etcdutl"}

const howToFix = "build it with `make etcd-release` or download the upstream tarball"

// DirName is the top folder of the linux-<arch> tarball of version, as
// upstream names it.
func DirName(version, arch string) string {
	return "etcd-v" + strings.TrimPrefix(version, "v") + "-linux-" + arch
}

// FileName is the base name of the linux-<arch> tarball of version.
func FileName(version, arch string) string {
	return DirName(version, arch) + ".tar.gz"
}

// Open checks that the tarball at path has the sha256 wantSHA256 and holds
// etcd, etcdctl and etcdutl as executable regular files in the top folder
// "etcd-v<version>-linux-<arch>", each an ELF binary for arch. version may
// carry a leading "v".
func Open(path, version, arch, wantSHA256 string) (*Release, error) {
	return OpenCached(path, version, arch, wantSHA256, "")
}

// OpenCached is Open that remembers in cacheDir which (sha256, version)
// pairs passed the layout check. That check decompresses the whole archive,
// most of a rebuild's time, and a tarball with the sha256 of one that passed
// holds the same bytes, so the same layout. The sha256 itself is computed
// every time. An empty cacheDir, or one that cannot be written, only means
// the check runs again.
func OpenCached(path, version, arch, wantSHA256, cacheDir string) (*Release, error) {
	want, err := normalizeSHA256(wantSHA256)
	if err != nil {
		return nil, fmt.Errorf("release %s: %w", path, err)
	}
	version = strings.TrimPrefix(strings.TrimSpace(version), "v")
	if version == "" {
		return nil, fmt.Errorf("release %s: empty etcd version", path)
	}
	if _, ok := machines[arch]; !ok {
		return nil, fmt.Errorf("release %s: arch %q is not amd64 or arm64", path, arch)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("release %s: %w", path, err)
	}

	fi, err := os.Stat(abs)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("release %s: no such file; %s", path, howToFix)
	}
	if err != nil {
		return nil, fmt.Errorf("release %s: %w", path, err)
	}
	if err := inputfile.Check(path, fi, inputfile.MaxTarball); err != nil {
		return nil, fmt.Errorf("release: %w", err)
	}

	// The checksum is checked before the archive is parsed so that nothing
	// is read out of bytes nobody vouched for.
	got, size, err := hashFile(abs)
	if err != nil {
		return nil, fmt.Errorf("release %s: %w", path, err)
	}
	if got != want {
		return nil, &ChecksumError{Path: path, Got: got, Want: want}
	}

	dir := DirName(version, arch)
	stamp := ""
	if cacheDir != "" {
		// v2: the check reads the binaries' ELF machine too.
		stamp = filepath.Join(cacheDir, "layout-checked", want+"-"+dir+".v2")
	}
	if _, err := os.Stat(stamp); stamp == "" || err != nil {
		if err := checkLayout(abs, version, arch); err != nil {
			return nil, fmt.Errorf("release %s: %w", path, err)
		}
		if stamp != "" && os.MkdirAll(filepath.Dir(stamp), 0o755) == nil {
			_ = durable.WriteFile(stamp, []byte{}, 0o644) // best effort: a missing stamp only costs time
		}
	}
	return &Release{
		Version: version,
		Arch:    arch,
		Name:    filepath.Base(abs),
		Path:    abs,
		SHA256:  got,
		Size:    size,
		Dir:     dir,
	}, nil
}

// ChecksumError reports a tarball whose sha256 differs from the expected one.
type ChecksumError struct {
	Path string
	Got  string
	Want string
}

func (e *ChecksumError) Error() string {
	return fmt.Sprintf("release %s: sha256 is %s, want %s; the file is damaged or is another build: rebuild or re-download it, or update the expected sum if the new build is intended", e.Path, e.Got, e.Want)
}

func normalizeSHA256(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if len(s) != sha256.Size*2 {
		return "", fmt.Errorf("expected sha256 %q is not 64 hex characters", s)
	}
	if _, err := hex.DecodeString(s); err != nil {
		return "", fmt.Errorf("expected sha256 %q is not 64 hex characters", s)
	}
	return s, nil
}

func hashFile(p string) (sum string, size int64, err error) {
	// Opened again with the checks: the name may have been swapped for a
	// FIFO or a device since the Stat.
	f, _, err := inputfile.Open(p, inputfile.MaxTarball)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(f, inputfile.MaxTarball+1))
	if err == nil && n > inputfile.MaxTarball {
		err = fmt.Errorf("grew past %d bytes while being read", int64(inputfile.MaxTarball))
	}
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// checkLayout reads the whole archive, not just until the binaries are seen,
// because a truncated or corrupt tail would otherwise only show up when the
// VM unpacks it.
func checkLayout(p, version, arch string) error {
	wantDir := DirName(version, arch)
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("not a gzip file (%v); %s", err, howToFix)
	}
	defer zr.Close()
	tr := tar.NewReader(zr)

	found := map[string]*tar.Header{}
	machine := map[string]error{} // by binary: why it does not run on arch
	tops := map[string]bool{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("corrupt tar.gz (%v); %s", err, howToFix)
		}
		name, err := CleanEntryName(hdr.Name)
		if err != nil {
			return err
		}
		if name == "" {
			continue
		}
		top, rest, _ := strings.Cut(name, "/")
		tops[top] = true
		if top == wantDir && rest != "" && !strings.Contains(rest, "/") {
			found[rest] = hdr
			if slices.Contains(Binaries, rest) && hdr.Typeflag == tar.TypeReg {
				machine[rest] = checkArch(tr, arch)
			}
		}
	}
	// Drain to the gzip trailer: tar stops at its end-of-archive marker, and
	// only reading past it makes gzip check its CRC and length.
	if _, err := io.Copy(io.Discard, zr); err != nil {
		return fmt.Errorf("corrupt tar.gz (%v); %s", err, howToFix)
	}

	if !tops[wantDir] {
		var others []string
		for t := range tops {
			others = append(others, t)
		}
		if len(others) == 0 {
			return fmt.Errorf("the archive is empty; %s", howToFix)
		}
		slices.Sort(others)
		return fmt.Errorf("top folder is %s, want %s; the tarball is for another version or platform: give the version (etcd.version) and arch (etcd.arch) it holds, or use the etcd v%s linux-%s tarball", strings.Join(others, ", "), wantDir, version, arch)
	}
	for _, b := range Binaries {
		hdr, ok := found[b]
		if !ok {
			return fmt.Errorf("missing %s/%s; %s", wantDir, b, howToFix)
		}
		if hdr.Typeflag != tar.TypeReg {
			return fmt.Errorf("%s/%s is not a regular file (tar type %q); %s", wantDir, b, hdr.Typeflag, howToFix)
		}
		if hdr.Mode&0o100 == 0 {
			return fmt.Errorf("%s/%s is not executable (mode %#o); repack it with mode 0755 or %s", wantDir, b, hdr.Mode&0o7777, howToFix)
		}
		if err := machine[b]; err != nil {
			return fmt.Errorf("etcd.arch is %s, but %s/%s %v: use the linux-%s release (`ETCD_ARCH=%s make etcd-release`), or set etcd.arch to the tarball's", arch, wantDir, b, err, arch, arch)
		}
	}
	return nil
}

// CleanEntryName returns a tar entry name in clean slash form without a
// leading "./", or an error when the entry would land outside the folder it
// is unpacked into. The root entry "./" comes back as "".
func CleanEntryName(name string) (string, error) {
	if strings.HasPrefix(name, "/") {
		return "", fmt.Errorf("unsafe tar entry %q: absolute path", name)
	}
	c := path.Clean(name)
	if c == "." {
		return "", nil
	}
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("unsafe tar entry %q: leaves the archive folder", name)
	}
	return c, nil
}
