package inputfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSpecialFiles (issue 11.3): devices, FIFOs, folders and oversized files
// are refused at once, with the path; a link to a regular file is read.
func TestSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big")
	os.WriteFile(big, make([]byte, 2048), 0o600)
	good := filepath.Join(dir, "good")
	os.WriteFile(good, []byte("ok"), 0o600)
	link := filepath.Join(dir, "link")
	os.Symlink(good, link)
	fifoLink := filepath.Join(dir, "fifolink")
	os.Symlink(fifo, fifoLink)
	for _, tc := range []struct {
		path, want string
	}{
		{"/dev/zero", "a character device"},
		{fifo, "a FIFO"},
		{fifoLink, "a FIFO"},
		{dir, "a folder"},
		{big, "more than the 1024"},
		{filepath.Join(dir, "missing"), "no such file"},
	} {
		done := make(chan error, 1)
		go func() { _, err := Read(tc.path, 1024); done <- err }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), tc.path) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s: %v, want an error naming it and saying %q", tc.path, err, tc.want)
			}
			if tc.want != "no such file" && tc.want != "more than the 1024" && !errors.Is(err, ErrNotRegular) {
				t.Errorf("%s: not ErrNotRegular: %v", tc.path, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: hangs", tc.path)
		}
	}
	for _, p := range []string{good, link} {
		if b, err := Read(p, 1024); err != nil || string(b) != "ok" {
			t.Errorf("%s: %q %v", p, b, err)
		}
	}
}
