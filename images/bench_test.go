package images

import (
	"io"
	"os"
	"path/filepath"
	"testing"
)

// benchSources writes the benchmark's 25 MiB and 60 MiB source files.
func benchSources(b *testing.B) []File {
	b.Helper()
	dir := b.TempDir()
	var files []File
	for i, mib := range []int{25, 60} {
		p := filepath.Join(dir, []string{"etcd.tar.gz", "rootfs.img"}[i])
		if err := os.WriteFile(p, pseudoRandom(mib<<20, uint64(i+10)), 0o644); err != nil {
			b.Fatal(err)
		}
		files = append(files, File{Path: "payload/" + filepath.Base(p), Mode: 0o444, SourcePath: p})
	}
	return append(files,
		File{Path: "user-data", Mode: 0o444, Data: []byte("#cloud-config\n")},
		File{Path: "meta-data", Mode: 0o444, Data: []byte("instance-id: bench\n")})
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

func BenchmarkWriteISO(b *testing.B) {
	files := benchSources(b)
	size, err := Size(files, testOpts)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("Write", func(b *testing.B) {
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
	// WriteFile adds the temporary file, fsync and rename.
	b.Run("WriteFile", func(b *testing.B) {
		path := filepath.Join(b.TempDir(), "seed.iso")
		b.SetBytes(size)
		for b.Loop() {
			if err := WriteFile(path, files, testOpts); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkCopyReference moves the same source bytes with plain io.Copy from
// file to file: the floor BenchmarkWriteISO/Write is measured against.
func BenchmarkCopyReference(b *testing.B) {
	files := benchSources(b)
	var size int64
	for _, f := range files {
		if f.SourcePath != "" {
			st, err := os.Stat(f.SourcePath)
			if err != nil {
				b.Fatal(err)
			}
			size += st.Size()
		}
	}
	out, err := os.Create(filepath.Join(b.TempDir(), "copy"))
	if err != nil {
		b.Fatal(err)
	}
	defer out.Close()
	b.SetBytes(size)
	for b.Loop() {
		resetFile(b, out)
		for _, f := range files {
			if f.SourcePath == "" {
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
}
