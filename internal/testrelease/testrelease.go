// Package testrelease writes release-shaped etcd tarballs for tests: the
// real layout (etcd-vX.Y.Z-linux-ARCH/{etcd,etcdctl,etcdutl}) with small
// stand-ins for binaries (an ELF header of the arch, then a script line),
// so everything but running etcd can be tested without building etcd.
// Tests that run etcd use the real release.
package testrelease

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Write writes dir/etcd-v<version>-linux-amd64.tar.gz and returns its path
// and sha256, failing tb on error. padMiB adds an incompressible file of
// that many MiB to the release folder, so benchmarks can give the ISOs a
// realistic payload; it is stored (gzip level 0) so making a large one costs
// little.
func Write(tb testing.TB, dir, version string, padMiB int) (string, string) {
	tb.Helper()
	p, sum, err := Create(dir, version, padMiB)
	if err != nil {
		tb.Fatal(err)
	}
	return p, sum
}

// WriteArch is Write for another arch ("amd64", "arm64"; any other name
// gets binaries for no known machine).
func WriteArch(tb testing.TB, dir, version, arch string, padMiB int) (string, string) {
	tb.Helper()
	p, sum, err := CreateArch(dir, version, arch, padMiB)
	if err != nil {
		tb.Fatal(err)
	}
	return p, sum
}

// Create is Write for callers without a testing.TB (testscript commands).
func Create(dir, version string, padMiB int) (path, sha string, err error) {
	return CreateArch(dir, version, "amd64", padMiB)
}

// ELF is the 64-byte header of a 64-bit little-endian Linux executable for
// arch, which is all the release check reads of a binary.
func ELF(arch string) []byte {
	m := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[arch]
	h := elf.Header64{Type: uint16(elf.ET_EXEC), Machine: uint16(m), Version: uint32(elf.EV_CURRENT), Ehsize: 64}
	copy(h.Ident[:], elf.ELFMAG)
	h.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	h.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	h.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	h.Ident[elf.EI_OSABI] = byte(elf.ELFOSABI_NONE)
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, h) // a fixed-size struct into memory: cannot fail
	return b.Bytes()
}

// CreateArch is WriteArch for callers without a testing.TB.
func CreateArch(dir, version, arch string, padMiB int) (path, sha string, err error) {
	return create(dir, version, arch, arch, padMiB)
}

// WriteMismatched writes the release of nameArch whose binaries are built
// for binArch: what the build must refuse.
func WriteMismatched(tb testing.TB, dir, version, nameArch, binArch string) (string, string) {
	tb.Helper()
	p, sum, err := create(dir, version, nameArch, binArch, 0)
	if err != nil {
		tb.Fatal(err)
	}
	return p, sum
}

func create(dir, version, arch, binArch string, padMiB int) (path, sha string, err error) {
	top := "etcd-v" + version + "-linux-" + arch
	path = filepath.Join(dir, top+".tar.gz")
	f, err := os.Create(path)
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	h := sha256.New()
	zw, err := gzip.NewWriterLevel(io.MultiWriter(f, h), gzip.NoCompression)
	if err != nil {
		return "", "", err
	}
	tw := tar.NewWriter(zw)
	add := func(name string, mode int64, size int64, body io.Reader) error {
		hdr := &tar.Header{Name: top + "/" + name, Mode: mode, Size: size, Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err := io.Copy(tw, body)
		return err
	}
	for _, b := range []string{"etcd", "etcdctl", "etcdutl"} {
		body := string(ELF(binArch)) + "\necho " + b + " " + version + "\n" + strings.Repeat("# padding\n", 300)
		if err := add(b, 0o755, int64(len(body)), strings.NewReader(body)); err != nil {
			return "", "", err
		}
	}
	if padMiB > 0 {
		if err := add("padding.bin", 0o644, int64(padMiB)<<20, io.LimitReader(&splitmix{x: uint64(padMiB)}, int64(padMiB)<<20)); err != nil {
			return "", "", err
		}
	}
	for _, c := range []io.Closer{tw, zw, f} {
		if err := c.Close(); err != nil {
			return "", "", err
		}
	}
	return path, hex.EncodeToString(h.Sum(nil)), nil
}

// splitmix is a deterministic, incompressible byte stream (splitmix64), so
// padded releases are the same on every run and gzip cannot shrink them.
type splitmix struct{ x uint64 }

func (s *splitmix) Read(p []byte) (int, error) {
	for n := 0; n < len(p); n += 8 {
		s.x += 0x9e3779b97f4a7c15
		z := s.x
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		z ^= z >> 31
		for i := 0; i < 8 && n+i < len(p); i++ {
			p[n+i] = byte(z >> (8 * i))
		}
	}
	return len(p), nil
}
