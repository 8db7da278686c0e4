package images

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// releaseSizes are the etcd tarballs a seed carries: about upstream's
// size, and the 60 MiB the tool comparison in scripts/bench.sh uses.
var releaseSizes = []int{25, 60}

// seedFiles is one node's seed as build lays it out: cloud-init's three
// files, the release streamed from disk, its checksum and seven PEM files.
func seedFiles(tb testing.TB, dir string, releaseMiB int) []File {
	tb.Helper()
	tarball := filepath.Join(dir, fmt.Sprintf("etcd-%dMiB.tar.gz", releaseMiB))
	if err := os.WriteFile(tarball, pseudoRandom(releaseMiB<<20, uint64(releaseMiB)), 0o644); err != nil {
		tb.Fatal(err)
	}
	files := []File{
		{Path: "user-data", Mode: 0o444, Data: pseudoRandom(12<<10, 1)},
		{Path: "meta-data", Mode: 0o444, Data: []byte("instance-id: etcdimg-bench-node01\nlocal-hostname: node01\n")},
		{Path: "network-config", Mode: 0o444, Data: pseudoRandom(400, 2)},
		{Path: "etcdimg/etcd-v3.6.16-linux-amd64.tar.gz", Mode: 0o444, SourcePath: tarball},
		{Path: "etcdimg/etcd-v3.6.16-linux-amd64.tar.gz.sha256", Mode: 0o444, Data: pseudoRandom(98, 3)},
	}
	for i, name := range []string{"ca.crt", "server.crt", "server.key", "peer.crt", "peer.key", "healthcheck-client.crt", "healthcheck-client.key"} {
		files = append(files, File{Path: "etcdimg/pki/" + name, Mode: 0o400, Data: pseudoRandom(900, uint64(10+i))})
	}
	return files
}

// resetFile empties f for the next iteration without reopening it.
func resetFile(b *testing.B, f *os.File) {
	if err := f.Truncate(0); err != nil {
		b.Fatal(err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkWriteISO writes one node's seed ISO. Write is the image alone
// into an open file; WriteFile is what build calls, adding the temporary
// file, fsync and rename. Compare Write's MB/s with BenchmarkCopyReference
// at the same size; B/op must not grow with the release size, since the
// release is streamed and never held in memory.
func BenchmarkWriteISO(b *testing.B) {
	for _, mib := range releaseSizes {
		files := seedFiles(b, b.TempDir(), mib)
		size, err := Size(files, testOpts)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("release=%dMiB/Write", mib), func(b *testing.B) {
			out, err := os.Create(filepath.Join(b.TempDir(), "seed.iso"))
			if err != nil {
				b.Fatal(err)
			}
			defer out.Close()
			b.SetBytes(size)
			for b.Loop() {
				resetFile(b, out)
				if _, err := Write(out, files, testOpts); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("release=%dMiB/WriteFile", mib), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "seed.iso")
			b.SetBytes(size)
			for b.Loop() {
				if err := WriteFile(path, files, testOpts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCopyReference moves the same source bytes with plain io.Copy from
// file to file: the floor BenchmarkWriteISO's Write is measured against.
func BenchmarkCopyReference(b *testing.B) {
	for _, mib := range releaseSizes {
		files := seedFiles(b, b.TempDir(), mib)
		b.Run(fmt.Sprintf("release=%dMiB", mib), func(b *testing.B) {
			out, err := os.Create(filepath.Join(b.TempDir(), "copy"))
			if err != nil {
				b.Fatal(err)
			}
			defer out.Close()
			var size int64
			for _, f := range files {
				if f.SourcePath == "" {
					size += int64(len(f.Data))
					continue
				}
				st, err := os.Stat(f.SourcePath)
				if err != nil {
					b.Fatal(err)
				}
				size += st.Size()
			}
			b.SetBytes(size)
			for b.Loop() {
				resetFile(b, out)
				for _, f := range files {
					if f.SourcePath == "" {
						if _, err := out.Write(f.Data); err != nil {
							b.Fatal(err)
						}
						continue
					}
					in, err := os.Open(f.SourcePath)
					if err != nil {
						b.Fatal(err)
					}
					_, err = io.Copy(out, in)
					in.Close()
					if err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// TestWriteMemoryIsFlat guards the property BenchmarkWriteISO's B/op shows:
// the heap a write needs does not depend on how big the release is. A
// writer that read a source file into memory, or copied it through a buffer
// sized by the file, would allocate at least the file's size here.
func TestWriteMemoryIsFlat(t *testing.T) {
	dir := t.TempDir()
	allocated := func(mib int) uint64 {
		files := seedFiles(t, dir, mib)
		out := filepath.Join(dir, fmt.Sprintf("seed-%d.iso", mib))
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		if err := WriteFile(out, files, testOpts); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	small, large := allocated(1), allocated(48)
	t.Logf("heap allocated by WriteFile: %d KiB with a 1 MiB release, %d KiB with 48 MiB", small>>10, large>>10)
	// The margin is far below the 47 MiB a buffered copy would add and far
	// above anything the runtime or a stray allocation could.
	if large > small+4<<20 {
		t.Errorf("writing a 48 MiB release allocated %d KiB, a 1 MiB one %d KiB: file data is being buffered", large>>10, small>>10)
	}
}
