package images

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/filesystem"
)

// The FAT seed is read back by the tools that meet it in practice: fsck.fat
// (dosfstools), mdir/mcopy (mtools), blkid (what cloud-init's NoCloud runs
// to find it) and go-diskfs. A missing tool skips its part, saying so;
// install them with: apt-get install -y dosfstools mtools util-linux

var vfatOpts = Options{VolumeID: "cidata", ModTime: testModTime}

func needVFATTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("%s not installed (apt-get install -y dosfstools mtools util-linux)", name)
	}
}

// newVFATFixture is a seed as build writes it, plus the cases that stress
// FAT: names that fit 8.3 and names that don't, short-name collisions, a
// folder spanning several clusters, a long name filling LFN entries exactly,
// files of exactly one cluster and empty ones, and the deepest tree the
// shared validation allows.
func newVFATFixture(t testing.TB, dir string) *fixture {
	t.Helper()
	fx := &fixture{want: map[string][]byte{}, dir: dir}
	addData := func(path string, mode fs.FileMode, data []byte) {
		fx.files = append(fx.files, File{Path: path, Mode: mode, Data: data})
		fx.want[path] = data
	}
	addSource := func(path string, mode fs.FileMode, data []byte) {
		src := writeSource(t, dir, fmt.Sprintf("src-%d", len(fx.files)), data)
		fx.files = append(fx.files, File{Path: path, Mode: mode, SourcePath: src})
		fx.want[path] = data
	}
	addData("user-data", 0o444, []byte("#cloud-config\nhostname: k8s01\n"))
	addData("meta-data", 0o444, []byte("instance-id: etcdimg-k8s-k8s01\nlocal-hostname: k8s01\n"))
	addData("network-config", 0o444, []byte("version: 2\nethernets: {}\n"))
	addSource("etcdimg/"+payloadName, 0o444, pseudoRandom(5<<20+123, 1))
	addData("etcdimg/"+payloadName+".sha256", 0o444, []byte("0123abcd  "+payloadName+"\n"))
	addData("etcdimg/pki/ca.crt", 0o444, []byte("-----BEGIN CERTIFICATE-----\n"))
	addData("etcdimg/pki/server.key", 0o400, []byte("-----BEGIN PRIVATE KEY-----\nnot really\n"))
	addSource("etcdimg/pki/peer.crt", 0o444, []byte("-----BEGIN CERTIFICATE-----\npeer\n"))
	addData("one-cluster.bin", 0o644, pseudoRandom(4096, 3))
	addSource("two-clusters.bin", 0o644, pseudoRandom(8192, 4))
	addData("empty.txt", 0o444, []byte{})
	addSource("empty-source", 0o444, nil)
	addData("UPPER.TXT", 0o444, []byte("an exact 8.3 name: no long name"))
	addData("names/VERY-L~1.TXT", 0o444, []byte("claims its short name first"))
	addData("names/very-long-name-one.txt", 0o444, []byte("one"))
	addData("names/very-long-name-two.txt", 0o444, []byte("two"))
	addData("names/.hidden", 0o444, []byte("dot file"))
	addData("names/Mixed Case Name.yaml", 0o444, []byte("spaces"))
	addData("names/thirteen-char", 0o444, []byte("13 characters: one full LFN entry, no terminator"))
	addData("names/"+strings.Repeat("x", MaxNameBytes), 0o444, []byte("longest name"))
	addData("names/a+b=c;d,e", 0o444, []byte("characters 8.3 cannot hold"))
	for i := range 150 {
		addData(fmt.Sprintf("many/member-%03d.conf", i), 0o444, []byte(fmt.Sprintf("member %d\n", i)))
	}
	addData(deepPath, 0o444, pseudoRandom(3*4096, 5))
	return fx
}

// vfatImages writes the fixture as FAT16 (what WriteVFAT picks for it) and,
// forced, as FAT32.
func vfatImages(t *testing.T) (*fixture, map[string]string) {
	t.Helper()
	dir := t.TempDir()
	fx := newVFATFixture(t, dir)
	imgs := map[string]string{"fat16": filepath.Join(dir, "seed16.img"), "fat32": filepath.Join(dir, "seed32.img")}
	if err := WriteVFAT(imgs["fat16"], fx.files, vfatOpts); err != nil {
		t.Fatal(err)
	}
	p, err := newVFATPlan(fx.files, vfatOpts, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.writeFile(imgs["fat32"], 0o644); err != nil {
		t.Fatal(err)
	}
	for typ, img := range imgs {
		b := make([]byte, 512)
		f, err := os.Open(img)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.ReadAt(b, 0)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		off := 54
		if typ == "fat32" {
			off = 82
		}
		if got, want := string(b[off:off+5]), strings.ToUpper(typ); got != want {
			t.Fatalf("%s: boot sector says %q", img, got)
		}
	}
	return fx, imgs
}

func TestVFATFsck(t *testing.T) {
	needVFATTool(t, "fsck.fat")
	_, imgs := vfatImages(t)
	for _, typ := range sortedKeys(imgs) {
		img := imgs[typ]
		t.Run(typ, func(t *testing.T) {
			// -n: read only; -V: a second, verifying pass. Anything beyond
			// the banner, the pass names and the summary is a complaint.
			out, err := exec.Command("fsck.fat", "-n", "-V", img).CombinedOutput()
			if err != nil {
				t.Fatalf("fsck.fat: %v\n%s", err, out)
			}
			summary := regexp.MustCompile(`^` + regexp.QuoteMeta(img) + `: \d+ files, \d+/\d+ clusters$`)
			for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				if strings.HasPrefix(l, "fsck.fat ") || strings.HasPrefix(l, "Starting ") || summary.MatchString(l) {
					continue
				}
				t.Errorf("fsck.fat: %s", l)
			}
		})
	}
}

var mdirLine = regexp.MustCompile(`^(\S+)\s+(\S{0,3})\s+(<DIR>|\d+)\s+\d{4}-\d\d-\d\d\s+\d\d:\d\d\s*(.*)$`)

func TestVFATMtools(t *testing.T) {
	needVFATTool(t, "mdir")
	needVFATTool(t, "mcopy")
	needVFATTool(t, "mattrib")
	fx, imgs := vfatImages(t)
	// mtools must accept the image as it is, not with its checks turned off.
	t.Setenv("MTOOLS_SKIP_CHECK", "0")
	for _, typ := range sortedKeys(imgs) {
		img := imgs[typ]
		t.Run(typ, func(t *testing.T) {
			var files []string
			for _, l := range strings.Split(string(run(t, "mdir", "-i", img, "-/", "-b", "::/")), "\n") {
				if p, ok := strings.CutPrefix(l, "::/"); ok && !strings.HasSuffix(p, "/") {
					files = append(files, p)
				}
			}
			slices.Sort(files)
			if want := sortedKeys(fx.want); !slices.Equal(files, want) {
				t.Errorf("mdir -/ lists %d files %v\nwant %d %v", len(files), files, len(want), want)
			}
			for _, p := range sortedKeys(fx.want) {
				if got := run(t, "mcopy", "-n", "-i", img, "::/"+p, "-"); !bytes.Equal(got, fx.want[p]) {
					t.Errorf("mcopy ::/%s: %d bytes, want %d", p, len(got), len(fx.want[p]))
				}
			}

			// Short and long names as DOS and Linux see them.
			out := string(run(t, "mdir", "-i", img, "::/"))
			if !strings.Contains(out, "Volume in drive : is cidata") {
				t.Errorf("mdir: volume label not cidata:\n%s", out)
			}
			short := map[string]string{}
			for _, l := range strings.Split(out, "\n") {
				if m := mdirLine.FindStringSubmatch(l); m != nil {
					long := m[4]
					name := m[1]
					if m[2] != "" {
						name += "." + m[2]
					}
					if long == "" {
						long = name
					}
					short[long] = name
					if !strings.Contains(l, "2009-02-13  23:31") {
						t.Errorf("mdir: %q does not show the mod time", l)
					}
				}
			}
			for long, want := range map[string]string{
				"user-data": "USER-D~1", "meta-data": "META-D~1", "network-config": "NETWOR~1",
				"etcdimg": "ETCDIMG", "UPPER.TXT": "UPPER.TXT", "empty.txt": "EMPTY.TXT", "empty-source": "EMPTY-~1",
			} {
				if short[long] != want {
					t.Errorf("mdir: %s has short name %q, want %q", long, short[long], want)
				}
			}
			out = string(run(t, "mdir", "-i", img, "::/etcdimg"))
			if !strings.Contains(out, "ETCD-V~1 GZ ") || !strings.Contains(out, "ETCD-V~1 SHA") {
				t.Errorf("mdir ::/etcdimg: want ETCD-V~1.GZ and ETCD-V~1.SHA:\n%s", out)
			}
			// No write bit in the mode: the read-only attribute.
			for p, want := range map[string]string{"etcdimg/pki/server.key": "A    R", "user-data": "A    R", "one-cluster.bin": "A     "} {
				if got := string(run(t, "mattrib", "-i", img, "::/"+p)); !strings.HasPrefix(got, "  "+want+" ") {
					t.Errorf("mattrib ::/%s: %q, want attributes %q", p, got, want)
				}
			}
			out = string(run(t, "mdir", "-i", img, "::/names"))
			for _, want := range []string{"VERY-L~1 TXT", "VERY-L~2 TXT  ", "VERY-L~3 TXT"} {
				if !strings.Contains(out, want) {
					t.Errorf("mdir ::/names: no %q:\n%s", want, out)
				}
			}
		})
	}
}

func TestVFATBlkid(t *testing.T) {
	needVFATTool(t, "blkid")
	_, imgs := vfatImages(t)
	for _, typ := range sortedKeys(imgs) {
		img := imgs[typ]
		t.Run(typ, func(t *testing.T) {
			tags := map[string]string{}
			for _, tag := range []string{"TYPE", "LABEL", "LABEL_FATBOOT", "UUID"} {
				tags[tag] = strings.TrimSpace(string(run(t, "blkid", "-p", "-o", "value", "-s", tag, img)))
			}
			p, err := newVFATPlan(newVFATFixture(t, t.TempDir()).files, vfatOpts, typ == "fat32")
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{
				"TYPE": "vfat", "LABEL": "cidata", "LABEL_FATBOOT": "cidata",
				"UUID": fmt.Sprintf("%04X-%04X", p.serial>>16, p.serial&0xFFFF),
			}
			for tag, w := range want {
				if tags[tag] != w {
					t.Errorf("blkid %s=%q, want %q", tag, tags[tag], w)
				}
			}
			// cloud-init 22.4+ (DataSourceNoCloud._get_devices) keeps the
			// devices both in blkid -t TYPE=vfat (or iso9660) and in one of
			// LABEL=CIDATA, LABEL=cidata, LABEL_FATBOOT=cidata.
			for _, crit := range []string{"TYPE=vfat", "LABEL=cidata"} {
				if got := strings.TrimSpace(string(run(t, "blkid", "-t", crit, "-o", "device", img))); got != img {
					t.Errorf("blkid -t %s -o device: %q, want %q", crit, got, img)
				}
			}
		})
	}
}

func TestVFATGoDiskfs(t *testing.T) {
	fx, imgs := vfatImages(t)
	wantType := map[string]filesystem.Type{"fat16": filesystem.TypeFat16, "fat32": filesystem.TypeFat32}
	for _, typ := range sortedKeys(imgs) {
		img := imgs[typ]
		t.Run(typ, func(t *testing.T) {
			d, err := diskfs.Open(img, diskfs.WithOpenMode(diskfs.ReadOnly))
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			fsys, err := d.GetFilesystem(0)
			if err != nil {
				t.Fatal(err)
			}
			if fsys.Type() != wantType[typ] {
				t.Errorf("go-diskfs reads type %v, want %v", fsys.Type(), wantType[typ])
			}
			if got := strings.TrimRight(fsys.Label(), " "); got != "cidata" {
				t.Errorf("label %q, want cidata", got)
			}
			got := map[string][]byte{}
			err = fs.WalkDir(fsys, ".", func(p string, de fs.DirEntry, err error) error {
				if err != nil || p == "." {
					return err
				}
				info, err := de.Info()
				if err != nil {
					return err
				}
				if !info.ModTime().Equal(testModTime) {
					t.Errorf("%s: time %v, want %v", p, info.ModTime(), testModTime)
				}
				if de.IsDir() {
					return nil
				}
				if info.Size() == 0 {
					// go-diskfs cannot open a file whose first cluster is 0,
					// which is how FAT (mkfs.fat, mtools, Linux) stores an
					// empty file; the size is all there is to check.
					got[p] = []byte{}
					return nil
				}
				got[p], err = fsys.ReadFile(p)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			compareTree(t, "go-diskfs", fx.want, got)
		})
	}
}

func TestVFATDeterministic(t *testing.T) {
	fx := newVFATFixture(t, t.TempDir())
	write := func(files []File, opts Options) []byte {
		t.Helper()
		img := filepath.Join(t.TempDir(), "seed.img")
		if err := WriteVFAT(img, files, opts); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(img)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a := write(fx.files, vfatOpts)
	if b := write(fx.files, vfatOpts); !bytes.Equal(a, b) {
		t.Error("two writes of the same input differ")
	}
	reversed := slices.Clone(fx.files)
	slices.Reverse(reversed)
	if b := write(reversed, vfatOpts); !bytes.Equal(a, b) {
		t.Error("the input order changes the image")
	}
	// The source files' location on the build host is not part of the image.
	moved := slices.Clone(fx.files)
	for i, f := range moved {
		if f.SourcePath != "" {
			moved[i].SourcePath = writeSource(t, t.TempDir(), "elsewhere", fx.want[f.Path])
		}
	}
	if b := write(moved, vfatOpts); !bytes.Equal(a, b) {
		t.Error("moving the source files changes the image")
	}
	later := vfatOpts
	later.ModTime = testModTime.Add(time.Hour)
	if b := write(fx.files, later); bytes.Equal(a, b) {
		t.Error("the mod time does not change the image")
	}
	other := slices.Clone(fx.files)
	other[0].Data = []byte("#cloud-config\nhostname: k8s02\n")
	p1, _ := newVFATPlan(fx.files, vfatOpts, false)
	p2, _ := newVFATPlan(other, vfatOpts, false)
	if p1.serial == p2.serial {
		t.Error("two nodes' seeds share a volume serial")
	}
	// No time: DefaultModTime, still reproducible.
	if x, y := write(fx.files[:3], Options{VolumeID: "cidata"}), write(fx.files[:3], Options{VolumeID: "cidata"}); !bytes.Equal(x, y) {
		t.Error("zero ModTime is not reproducible")
	}
}

// TestVFATSize checks that the image fits its content plus slack, that the
// unused part is holes, and that VFATSize agrees with what is written.
func TestVFATSize(t *testing.T) {
	big := writeSource(t, t.TempDir(), "big", pseudoRandom(30<<20, 7))
	files := []File{
		{Path: "user-data", Mode: 0o444, Data: []byte("#cloud-config\n")},
		{Path: "meta-data", Mode: 0o444, Data: []byte("instance-id: x\n")},
		{Path: "etcdimg/" + payloadName, Mode: 0o444, SourcePath: big},
	}
	for name, files := range map[string][]File{"tiny": files[:2], "seed": files} {
		t.Run(name, func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "seed.img")
			if err := WriteVFAT(img, files, vfatOpts); err != nil {
				t.Fatal(err)
			}
			st, err := os.Stat(img)
			if err != nil {
				t.Fatal(err)
			}
			want, err := VFATSize(files, vfatOpts)
			if err != nil || st.Size() != want {
				t.Errorf("size %d, VFATSize %d %v", st.Size(), want, err)
			}
			var content int64
			for _, f := range files {
				content += int64(len(f.Data))
				if f.SourcePath != "" {
					s, _ := os.Stat(f.SourcePath)
					content += s.Size()
				}
			}
			if st.Size() < content+vfatSlack {
				t.Errorf("image %d bytes for %d bytes of content: no slack", st.Size(), content)
			}
			// Worst case of the padding to 4085 clusters of 4 KiB: 16 MiB.
			if limit := max(content*11/10+4<<20, 17<<20); st.Size() > limit {
				t.Errorf("image %d bytes for %d bytes of content, want at most %d", st.Size(), content, limit)
			}
			onDisk := st.Sys().(*syscall.Stat_t).Blocks * 512
			if onDisk > content+1<<20 {
				t.Errorf("%d bytes allocated for %d bytes of content: the free space is not sparse", onDisk, content)
			}
			t.Logf("%s: %d bytes, %d allocated, %d of content", name, st.Size(), onDisk, content)
		})
	}
	t.Run("empty", func(t *testing.T) {
		img := filepath.Join(t.TempDir(), "empty.img")
		if err := WriteVFAT(img, nil, vfatOpts); err != nil {
			t.Fatal(err)
		}
		if _, err := exec.LookPath("fsck.fat"); err == nil {
			if out, err := exec.Command("fsck.fat", "-n", img).CombinedOutput(); err != nil {
				t.Errorf("fsck.fat: %v\n%s", err, out)
			}
		}
	})
}

func TestShortNames(t *testing.T) {
	kid := func(name string) *fatNode { return &fatNode{name: name} }
	kids := []*fatNode{}
	for _, n := range []string{
		".hidden", "Mixed Case Name.yaml", "UPPER.TXT", "VERY-L~1.TXT", "a+b=c", "ca.crt", "etcd-v3.6.16-linux-amd64.tar.gz",
		"etcd-v3.6.16-linux-amd64.tar.gz.sha256", "etcdimg", "meta-data", "network-config", "user-data",
		"very-long-name-one.txt", "very-long-name-two.txt",
	} {
		kids = append(kids, kid(n))
	}
	assignShortNames(kids)
	want := map[string]struct {
		short string
		lfn   bool
	}{
		".hidden":                                {"HIDDEN~1   ", true},
		"Mixed Case Name.yaml":                   {"MIXEDC~1YAM", true},
		"UPPER.TXT":                              {"UPPER   TXT", false},
		"VERY-L~1.TXT":                           {"VERY-L~1TXT", false},
		"a+b=c":                                  {"A_B_C~1    ", true},
		"ca.crt":                                 {"CA      CRT", true},
		"etcd-v3.6.16-linux-amd64.tar.gz":        {"ETCD-V~1GZ ", true},
		"etcd-v3.6.16-linux-amd64.tar.gz.sha256": {"ETCD-V~1SHA", true},
		"etcdimg":                                {"ETCDIMG    ", true},
		"meta-data":                              {"META-D~1   ", true},
		"network-config":                         {"NETWOR~1   ", true},
		"user-data":                              {"USER-D~1   ", true},
		"very-long-name-one.txt":                 {"VERY-L~2TXT", true},
		"very-long-name-two.txt":                 {"VERY-L~3TXT", true},
	}
	for _, k := range kids {
		w := want[k.name]
		if string(k.short[:]) != w.short || k.needLFN != w.lfn {
			t.Errorf("%q: short %q lfn %v, want %q %v", k.name, k.short[:], k.needLFN, w.short, w.lfn)
		}
	}
	// Ten collisions need a two-digit tail, which shortens the base.
	kids = nil
	for i := range 11 {
		kids = append(kids, kid(fmt.Sprintf("long-file-name-%02d", i)))
	}
	assignShortNames(kids)
	if got := string(kids[9].short[:]); got != "LONG-~10   " {
		t.Errorf("tenth collision: %q", got)
	}
	if sum := lfnChecksum([11]byte([]byte("USER-D~1   "))); sum == 0 {
		t.Error("checksum of a real name is 0")
	}
}

func TestVFATValidation(t *testing.T) {
	data := []byte("x")
	cases := []struct {
		name   string
		files  []File
		opts   Options
		errHas string
	}{
		// The ISO writer's checks, shared.
		{"duplicate", []File{{Path: "a/b", Data: data}, {Path: "a/b", Data: data}}, vfatOpts, `"a/b": duplicate path`},
		{"absolute", []File{{Path: "/etc/passwd", Data: data}}, vfatOpts, `"/etc/passwd": absolute path`},
		{"too deep", []File{{Path: "1/2/3/4/5/6/7/8/f", Data: data}}, vfatOpts, `more than 8 directory levels`},
		{"no content", []File{{Path: "a"}}, vfatOpts, `"a": neither data nor source path set`},
		{"missing source", []File{{Path: "a", SourcePath: "/nonexistent/etcdimg"}}, vfatOpts, `"a": source: `},
		{"publisher", []File{}, Options{VolumeID: "cidata", Publisher: "\x01"}, "not printable ascii"},
		// FAT's own.
		{"case collision", []File{{Path: "d/Readme", Data: data}, {Path: "d/README", Data: data}}, vfatOpts, `"d/Readme": FAT names are case-insensitive: "README" and "Readme" collide`},
		{"dir case collision", []File{{Path: "PKI/a", Data: data}, {Path: "pki/b", Data: data}}, vfatOpts, `FAT names are case-insensitive`},
		{"not ascii", []File{{Path: "café", Data: data}}, vfatOpts, `"café": name "café" is not ascii`},
		{"question mark", []File{{Path: "what?", Data: data}}, vfatOpts, `"what?": name "what?": '?' is not allowed`},
		{"trailing dot", []File{{Path: "d./f", Data: data}}, vfatOpts, `"d.": name "d." ends in a dot or space`},
		{"trailing space", []File{{Path: "f ", Data: data}}, vfatOpts, `ends in a dot or space`},
		{"long label", nil, Options{VolumeID: "cidata-seed-1"}, "longer than the 11 characters of a FAT label"},
		{"label char", nil, Options{VolumeID: "ci.data"}, `'.' is not allowed in a FAT label`},
		{"label space", nil, Options{VolumeID: " cidata"}, "cannot start with a space"},
		{"before 1980", nil, Options{VolumeID: "cidata", ModTime: time.Date(1979, 12, 31, 23, 0, 0, 0, time.UTC)}, "outside 1980-2107"},
		{"after 2107", nil, Options{VolumeID: "cidata", ModTime: time.Date(2108, 1, 1, 0, 0, 0, 0, time.UTC)}, "outside 1980-2107"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			err := WriteVFAT(filepath.Join(dir, "seed.img"), c.files, c.opts)
			if err == nil || !strings.Contains(err.Error(), c.errHas) {
				t.Fatalf("error %v, want one containing %q", err, c.errHas)
			}
			if es, _ := os.ReadDir(dir); len(es) != 0 {
				t.Errorf("left behind: %v", names(es))
			}
			if _, err := VFATSize(c.files, c.opts); err == nil {
				t.Error("VFATSize accepts it")
			}
		})
	}
	// Whatever case, the label is written as given.
	for _, l := range []string{"CIDATA", "cidata", ""} {
		p, err := newVFATPlan(nil, Options{VolumeID: l}, false)
		if err != nil {
			t.Fatal(err)
		}
		want := l
		if l == "" {
			want = "NO NAME"
		}
		if got := strings.TrimRight(string(p.bootSector()[43:54]), " "); got != want {
			t.Errorf("label %q: boot sector has %q", l, got)
		}
	}
}

// TestVFATWriteFailures checks that a failed WriteVFAT leaves the target as
// it was and nothing beside it, like TestWriteFileFailures for the ISO.
func TestVFATWriteFailures(t *testing.T) {
	checkWriteFailures(t, "seed.img",
		func(target string, files []File) error { return WriteVFAT(target, files, vfatOpts) },
		func(files []File) (fileWriter, error) { return newVFATPlan(files, vfatOpts, false) })
	t.Run("mode and overwrite", func(t *testing.T) {
		dir := t.TempDir()
		target := filepath.Join(dir, "seed.img")
		if err := os.WriteFile(target, []byte("previous image"), 0o644); err != nil {
			t.Fatal(err)
		}
		src := writeSource(t, t.TempDir(), "payload", pseudoRandom(3<<20, 9))
		old := syscall.Umask(0o077)
		err := WriteVFAT(target, failureFiles(src), vfatOpts)
		syscall.Umask(old)
		if err != nil {
			t.Fatal(err)
		}
		if st, err := os.Stat(target); err != nil || st.Mode() != 0o644 {
			t.Errorf("mode %v %v, want 0644 whatever the umask", st.Mode(), err)
		}
		if es, _ := os.ReadDir(dir); len(es) != 1 {
			t.Errorf("left behind: %v", names(es))
		}
	})
}

// TestVFATBootSector pins the fields other tools read without checking much.
func TestVFATBootSector(t *testing.T) {
	p, err := newVFATPlan(newVFATFixture(t, t.TempDir()).files, vfatOpts, false)
	if err != nil {
		t.Fatal(err)
	}
	b := p.bootSector()
	le16 := func(off int) int { return int(binary.LittleEndian.Uint16(b[off:])) }
	if b[0] != 0xEB || b[1] != 0x3C || b[0x3E] != 0xCD || b[510] != 0x55 || b[511] != 0xAA {
		t.Errorf("jump, code or signature wrong: % x", b[:3])
	}
	if le16(11) != 512 || b[13] != 8 || b[16] != 2 || b[21] != 0xF8 {
		t.Errorf("geometry: %d bytes/sector, %d sectors/cluster, %d FATs, media %#x", le16(11), b[13], b[16], b[21])
	}
	if p.dataOffset()%(16<<10) != 0 || p.size()%(16<<10) != 0 {
		t.Errorf("data at %d, size %d: not 16 KiB aligned", p.dataOffset(), p.size())
	}
	if p.clusters < vfatMinFAT16 || p.clusters > vfatMaxFAT16 {
		t.Errorf("%d clusters is not a FAT16 count", p.clusters)
	}
}

// TestVFATSevenZip reads the images with a third, unrelated FAT and LFN
// implementation.
func TestVFATSevenZip(t *testing.T) {
	needVFATTool(t, "7z")
	fx, imgs := vfatImages(t)
	for _, typ := range sortedKeys(imgs) {
		t.Run(typ, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "x")
			run(t, "7z", "x", "-y", "-o"+out, imgs[typ])
			compareTree(t, "7z x", fx.want, readTree(t, out))
		})
	}
}
