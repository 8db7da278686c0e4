package release

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"io"
)

// Arches are the machines etcdimg builds seeds for, in Go's and etcd's
// tarball names, with the ELF machine their binaries must carry.
var machines = map[string]elf.Machine{
	"amd64": elf.EM_X86_64,
	"arm64": elf.EM_AARCH64,
}

// archOf names an ELF machine as etcd's tarballs do.
func archOf(m elf.Machine) string {
	for a, am := range machines {
		if am == m {
			return a
		}
	}
	return m.String()
}

// checkArch reads the ELF header at the start of r (a binary from the
// tarball) and says whether it runs on arch: a 64-bit little-endian Linux
// executable for that machine. Only the header is read: a tarball entry is
// a stream, and the rest of the file does not matter here.
func checkArch(r io.Reader, arch string) error {
	want, ok := machines[arch]
	if !ok {
		return fmt.Errorf("etcdimg builds no seeds for arch %q", arch)
	}
	var hdr elf.Header64
	b := make([]byte, binary.Size(hdr))
	if _, err := io.ReadFull(r, b); err != nil || !bytes.HasPrefix(b, []byte(elf.ELFMAG)) {
		return fmt.Errorf("is not an ELF executable, so no etcd binary for linux-%s", arch)
	}
	if elf.Class(b[elf.EI_CLASS]) != elf.ELFCLASS64 || elf.Data(b[elf.EI_DATA]) != elf.ELFDATA2LSB {
		return fmt.Errorf("is a %v %v ELF file, not a 64-bit little-endian linux-%s binary", elf.Class(b[elf.EI_CLASS]), elf.Data(b[elf.EI_DATA]), arch)
	}
	if err := binary.Read(bytes.NewReader(b), binary.LittleEndian, &hdr); err != nil {
		return err
	}
	if got := elf.Machine(hdr.Machine); got != want {
		return fmt.Errorf("is built for %s (ELF machine %v), not %s (%v)", archOf(got), got, arch, want)
	}
	return nil
}
