package images

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/etcdimg/etcdimg/internal/durable"
)

// countWriter counts what the destination accepted, so Write can report an
// exact byte count even when it fails half way. A short write without an
// error is turned into io.ErrShortWrite rather than trusted.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	return n, err
}

// emitter streams the planned image. Metadata goes through a buffer so a
// large tree is not thousands of tiny writes; source files bypass it.
type emitter struct {
	p   *plan
	dst io.Writer // the caller's writer, for io.Copy of sources
	cw  *countWriter
	bw  *bufio.Writer
}

var zeroSector [sectorSize]byte

func (e *emitter) write(b []byte) error {
	if _, err := e.bw.Write(b); err != nil {
		return fmt.Errorf("images: write image: %w", err)
	}
	return nil
}

func (e *emitter) flush() error {
	if err := e.bw.Flush(); err != nil {
		return fmt.Errorf("images: write image: %w", err)
	}
	return nil
}

// pos is the byte offset the next write lands on.
func (e *emitter) pos() int64 {
	return e.cw.n + int64(e.bw.Buffered())
}

// at guards the layout: a plan and an emitter that disagree on where
// something goes would produce a silently broken image.
func (e *emitter) at(sector uint32, what string) error {
	if want := int64(sector) * sectorSize; e.pos() != want {
		return fmt.Errorf("images: internal error: %s at byte %d, planned for %d", what, e.pos(), want)
	}
	return nil
}

// padded writes b and zero fills to the next sector boundary.
func (e *emitter) padded(b []byte) error {
	if err := e.write(b); err != nil {
		return err
	}
	if rest := len(b) % sectorSize; rest != 0 {
		return e.write(zeroSector[:sectorSize-rest])
	}
	return nil
}

func (p *plan) writeTo(w io.Writer) (int64, error) {
	cw := &countWriter{w: w}
	e := &emitter{p: p, dst: w, cw: cw, bw: bufio.NewWriterSize(cw, 256<<10)}
	err := e.emit()
	if err == nil {
		err = e.flush()
	}
	if err == nil && cw.n != int64(p.totalSectors)*sectorSize {
		err = fmt.Errorf("images: internal error: wrote %d bytes, planned %d", cw.n, int64(p.totalSectors)*sectorSize)
	}
	return cw.n, err
}

func (e *emitter) emit() error {
	p := e.p
	for range 16 {
		if err := e.write(zeroSector[:]); err != nil {
			return err
		}
	}
	for _, b := range [][]byte{p.volumeDescriptor(false), p.volumeDescriptor(true), terminator()} {
		if err := e.write(b); err != nil {
			return err
		}
	}
	tables := []struct {
		loc            uint32
		joliet, bigEnd bool
	}{{p.isoPTL, false, false}, {p.isoPTM, false, true}, {p.jolPTL, true, false}, {p.jolPTM, true, true}}
	for _, t := range tables {
		if err := e.at(t.loc, "path table"); err != nil {
			return err
		}
		if err := e.padded(p.pathTable(t.joliet, t.bigEnd)); err != nil {
			return err
		}
	}
	for _, d := range p.isoDirs {
		if err := e.at(d.isoLoc, "directory"); err != nil {
			return err
		}
		if err := e.write(p.dirExtent(d, false)); err != nil {
			return err
		}
	}
	for _, d := range p.jolDirs {
		if err := e.at(d.jolLoc, "joliet directory"); err != nil {
			return err
		}
		if err := e.write(p.dirExtent(d, true)); err != nil {
			return err
		}
	}
	if err := e.at(p.ceLoc, "continuation area"); err != nil {
		return err
	}
	if err := e.padded(p.er); err != nil {
		return err
	}
	for _, f := range p.files {
		if f.size == 0 {
			continue
		}
		if err := e.at(f.loc, "file "+f.file.Path); err != nil {
			return err
		}
		if f.file.SourcePath != "" {
			if err := e.copySource(f); err != nil {
				return err
			}
		} else if err := e.write(f.file.Data); err != nil {
			return err
		}
		if rest := f.size % sectorSize; rest != 0 {
			if err := e.write(zeroSector[:sectorSize-rest]); err != nil {
				return err
			}
		}
	}
	return nil
}

// copySource streams one host file into the image. The size was fixed at
// planning; anything else now means the file changed during the build, and
// an image with a truncated or shifted file must not be produced.
func (e *emitter) copySource(n *node) (err error) {
	path := n.file.Path
	if err := e.flush(); err != nil {
		return err
	}
	f, err := os.Open(n.file.SourcePath)
	if err != nil {
		return pathError(path, "open source: %w", err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = pathError(path, "close source: %w", cerr)
		}
	}()
	// Straight into the caller's writer, not through the buffer or the
	// counter: only then does an *os.File destination see the *os.File
	// source (os unwraps the LimitedReader) and hand the copy to the kernel.
	copied, err := io.Copy(e.dst, io.LimitReader(f, n.size))
	e.cw.n += copied
	if err != nil {
		return pathError(path, "copy source %q: %w", n.file.SourcePath, err)
	}
	if copied != n.size {
		return pathError(path, "source %q changed size during the build: copied %d bytes, planned %d", n.file.SourcePath, copied, n.size)
	}
	// The limit stops the copy at the planned size, so growth only shows as
	// a byte past it.
	var one [1]byte
	if k, _ := f.ReadAt(one[:], n.size); k > 0 {
		return pathError(path, "source %q changed size during the build: grew past %d bytes", n.file.SourcePath, n.size)
	}
	return nil
}

// writeFile is WriteFile once the plan is made: streamed into a
// durable.Pending beside path, which is renamed into place only when the
// whole image is written and synced.
func (p *plan) writeFile(path string, mode fs.FileMode) (err error) {
	w, err := durable.Create(path, mode)
	if err != nil {
		return fmt.Errorf("images: %w", err)
	}
	defer func() {
		if err != nil {
			w.Abort()
		}
	}()
	// The *os.File itself, so source files reach it by copy_file_range.
	if _, err = p.writeTo(w.File()); err != nil {
		return err
	}
	if err = w.Commit(); err != nil {
		return fmt.Errorf("images: %w", err)
	}
	return nil
}
