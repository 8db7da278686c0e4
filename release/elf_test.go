package release

import (
	"archive/tar"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcdimg/etcdimg/internal/testrelease"
)

// elfBody is a stand-in binary: the ELF header of arch, then text.
func elfBody(arch, text string) string { return string(testrelease.ELF(arch)) + text }

// archEntries is a release of arch whose binaries are built for machine.
func archEntries(arch string, bodies map[string]string) []entry {
	dir := DirName(testVersion, arch)
	out := []entry{{name: dir + "/", mode: 0o755, typ: tar.TypeDir}}
	for _, b := range Binaries {
		out = append(out, entry{name: dir + "/" + b, mode: 0o755, body: bodies[b]})
	}
	return out
}

func same(body string) map[string]string {
	return map[string]string{"etcd": body, "etcdctl": body, "etcdutl": body}
}

func TestArchCheck(t *testing.T) {
	elf32 := []byte(elfBody("arm64", ""))
	elf32[4] = 1 // ELFCLASS32
	for _, tt := range []struct {
		name, arch string
		entries    []entry
		want       string // "" for success
	}{
		{"arm64 release", "arm64", archEntries("arm64", same(elfBody("arm64", "x"))), ""},
		{"amd64 release", "amd64", archEntries("amd64", same(elfBody("amd64", "x"))), ""},
		{"amd64 binaries named arm64", "arm64", archEntries("arm64", same(elfBody("amd64", "x"))),
			"etcd.arch is arm64, but etcd-v" + testVersion + "-linux-arm64/etcd is built for amd64 (ELF machine EM_X86_64), not arm64 (EM_AARCH64)"},
		{"one binary of the other arch", "amd64", archEntries("amd64", map[string]string{
			"etcd": elfBody("amd64", ""), "etcdctl": elfBody("amd64", ""), "etcdutl": elfBody("arm64", "")}),
			"linux-amd64/etcdutl is built for arm64"},
		{"amd64 tarball for arm64", "arm64", archEntries("amd64", same(elfBody("amd64", "x"))),
			"want etcd-v" + testVersion + "-linux-arm64; the tarball is for another version or platform: give the version (etcd.version) and arch (etcd.arch)"},
		{"a script", "amd64", archEntries("amd64", same("#!/bin/sh\necho etcd\n")), "linux-amd64/etcd is not an ELF executable"},
		{"32-bit", "arm64", archEntries("arm64", same(string(elf32))), "linux-arm64/etcd is a ELFCLASS32 ELFDATA2LSB ELF file, not a 64-bit little-endian linux-arm64 binary"},
		{"empty binary", "arm64", archEntries("arm64", same("")), "linux-arm64/etcd is not an ELF executable"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			data := tarGz(t, tt.entries)
			p, s := writeTarball(t, data)
			r, err := Open(p, testVersion, tt.arch, s)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if r.Arch != tt.arch || r.Dir != DirName(testVersion, tt.arch) {
					t.Errorf("arch %q dir %q", r.Arch, r.Dir)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Open = %v, want an error containing %q", err, tt.want)
			}
		})
	}
	if _, err := Open("x.tar.gz", testVersion, "riscv64", strings.Repeat("0", 64)); err == nil || !strings.Contains(err.Error(), `arch "riscv64" is not amd64 or arm64`) {
		t.Errorf("riscv64: %v", err)
	}
}

// The check reads real Go binaries as the release script builds them
// (CGO off, linux), one per arch: the hand-made headers above are not the
// only thing it knows.
func TestArchCheckRealBinaries(t *testing.T) {
	if testing.Short() {
		t.Skip("builds two binaries")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go toolchain")
	}
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "go.mod"), []byte("module hello\n\ngo 1.21\n"), 0o644)
	os.WriteFile(filepath.Join(src, "main.go"), []byte("package main\n\nfunc main() {}\n"), 0o644)
	bins := map[string]string{}
	for _, arch := range []string{"amd64", "arm64"} {
		out := filepath.Join(t.TempDir(), "hello")
		cmd := exec.Command(gobin, "build", "-trimpath", "-ldflags=-s -w", "-o", out, ".")
		cmd.Dir = src
		cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+arch, "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("GOARCH=%s go build: %v\n%s", arch, err, b)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		bins[arch] = string(b)
	}
	for _, tarArch := range []string{"amd64", "arm64"} {
		for binArch, body := range bins {
			p, s := writeTarball(t, tarGz(t, archEntries(tarArch, same(body))))
			_, err := Open(p, testVersion, tarArch, s)
			if ok := err == nil; ok != (tarArch == binArch) {
				t.Errorf("linux-%s release with %s binaries: %v", tarArch, binArch, err)
			}
		}
	}
}
