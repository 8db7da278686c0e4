package images

// The second seed format: a FAT filesystem image, for hypervisors that
// attach a disk rather than a CD. cloud-init's NoCloud looks for a vfat or
// iso9660 filesystem labelled cidata (blkid LABEL=cidata, LABEL=CIDATA or
// LABEL_FATBOOT=cidata), so the same files work from either.
//
// # Why a writer of our own, not go-diskfs's fat16/fat32
//
// go-diskfs v1.9.4 can create FAT filesystems, but its directory entries take
// their time from timestamp.GetTime(), which reads the process-wide
// SOURCE_DATE_EPOCH variable: build writes nodes in parallel and takes its
// time from Options.ModTime, so that would mean racing os.Setenv. It also
// needs a random-access backend it writes in small pieces, and copies file
// data through its own File.Write, so a 20 MB tarball could not go to the
// image by copy_file_range. The subset a seed needs (a few files, a few
// folders, written once, never modified) is small enough to write directly:
// everything is planned in memory, metadata is built as bytes, file data is
// streamed into place. go-diskfs stays the independent reader in the tests.
//
// # Layout
//
//	reserved sectors   boot sector (FAT32 also: FSInfo at 1, backups at 6, 7)
//	FAT 1, FAT 2       one entry per cluster; every chain is contiguous
//	root directory     FAT16 only: a fixed region (FAT32 keeps it in cluster 2)
//	data clusters      sub-directories (breadth first), then file data in
//	                   the same order, then free clusters (slack)
//
// FAT16 is used while the data fits in 65524 clusters of at most 32 KiB
// (2 GiB), FAT32 beyond. Clusters start at 4 KiB and the data area is 16 KiB
// aligned, so every file starts page aligned in the image (copy_file_range
// can then share extents on filesystems that reflink). Short of the minimum
// cluster count of the FAT type (4085 for FAT16), the image is padded with
// free clusters; those and the 1 MiB of slack are never written, so the file
// is sparse: a seed's blocks on disk are little more than its content.
//
// Every name gets VFAT long-name entries unless it is already an upper-case
// 8.3 name. Short names follow Windows' basis-name rules with "~N" tails,
// assigned in byte order of the real names so the result never depends on the
// input order. Every timestamp is Options.ModTime, recorded as UTC (FAT has no
// time zone; Linux shows it shifted by the reader's zone unless mounted with
// tz=UTC). The volume serial number is derived from the label, the time and
// the file set, so the same input gives the same bytes and different nodes'
// seeds get different serials (blkid's UUID).

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/etcdimg/etcdimg/internal/durable"
)

// FAT geometry limits. The cluster-count thresholds are the ones every FAT
// driver (Linux, Windows, dosfstools, mtools) uses to tell the types apart.
const (
	vfatSector       = 512
	vfatMinFAT16     = 4085
	vfatMaxFAT16     = 65524
	vfatMinFAT32     = 65525
	vfatMaxFAT32     = 0x0FFFFFF5 - 2
	vfatMinCluster   = 4096
	vfatMaxCluster   = 32768
	vfatAlignSectors = 32 // 16 KiB; also sectors per track, see bootSector
	vfatSlack        = 1 << 20
	vfatMaxDirEnts   = 65536 // entries in one directory, per the FAT spec
	// VFATMaxLabel is the length of a FAT volume label.
	VFATMaxLabel = 11
)

// FAT dates run from 1980 to 2107.
const vfatMinYear, vfatMaxYear = 1980, 2107

// fatNode is one file or folder as it is placed in the FAT image.
type fatNode struct {
	name    string
	path    string
	isDir   bool
	file    *File
	size    int64
	kids    []*fatNode // byte order of name
	short   [11]byte
	needLFN bool

	first, count uint32 // first cluster and cluster count; 0, 0 for empty files and the FAT16 root
	dirEnts      int    // directory entries this folder holds, "." and ".." included
}

type vfatPlan struct {
	modTime time.Time
	label   string
	fat32   bool

	root  *fatNode
	dirs  []*fatNode // cluster order, FAT16 root excluded
	files []*fatNode // cluster order, empty files excluded

	clusterBytes int64
	spc          uint32 // sectors per cluster
	clusters     uint32 // data clusters, used and free
	used         uint32 // data clusters holding something
	reserved     uint32 // sectors
	fatSectors   uint32 // per FAT
	rootEntries  uint32 // FAT16 fixed root directory
	totalSectors uint32
	serial       uint32
}

// WriteVFAT writes files as a FAT (vfat) filesystem image to path (mode
// Options.FileMode),
// with the same contract as WriteFile: all validation (the same checks and
// messages as the ISO writer, plus FAT's own limits) happens first; the image
// is written to a temporary file beside path, synced and renamed into place;
// on any error the file at path is left as it was and nothing else remains.
//
// FAT's own limits: names must be ASCII, without "*/:<>?\| or control
// characters, not end in a dot or space, and not differ from a sibling only
// in case; ModTime must lie in 1980-2107.
//
// Options.VolumeID becomes the volume label (boot sector and root directory,
// as mkfs.fat writes it), case kept: "cidata" is what cloud-init and the
// first-boot script's /dev/disk/by-label/cidata look for. It may have at most
// 11 characters, none of "*+,./:;<=>?[\]|. Publisher and Application are
// checked as for the ISO but have no place in a FAT image. Modes, UIDs and
// GIDs have no place either: a file without any write bit gets the read-only
// attribute.
func WriteVFAT(path string, files []File, opts Options) error {
	p, err := newVFATPlan(files, opts, false)
	if err != nil {
		return err
	}
	return p.writeFile(path, opts.fileMode())
}

// CheckVFATModTime says whether a FAT image can record t: FAT dates run
// from 1980 to 2107.
func CheckVFATModTime(t time.Time) error {
	if t.IsZero() {
		return nil
	}
	if y := t.UTC().Year(); y < vfatMinYear || y > vfatMaxYear {
		return fmt.Errorf("images: mod time %s is outside %d-%d, the range of a FAT date", t.UTC().Format(time.RFC3339), vfatMinYear, vfatMaxYear)
	}
	return nil
}

// VFATSize returns the size in bytes of the image WriteVFAT would write
// (most of it may be holes), after the same validation.
func VFATSize(files []File, opts Options) (int64, error) {
	p, err := newVFATPlan(files, opts, false)
	if err != nil {
		return 0, err
	}
	return p.size(), nil
}

func (p *vfatPlan) size() int64 { return int64(p.totalSectors) * vfatSector }

// newVFATPlan validates and lays out the image; forceFAT32 lets the tests
// cover FAT32 without writing gigabytes.
func newVFATPlan(files []File, opts Options, forceFAT32 bool) (*vfatPlan, error) {
	p := &vfatPlan{modTime: opts.ModTime, label: opts.VolumeID}
	if p.modTime.IsZero() {
		p.modTime = DefaultModTime
	}
	p.modTime = p.modTime.UTC()
	if err := CheckVFATModTime(p.modTime); err != nil {
		return nil, err
	}
	if err := checkFATLabel(opts.VolumeID); err != nil {
		return nil, err
	}
	if err := checkASCII("publisher", opts.Publisher, 128); err != nil {
		return nil, err
	}
	if err := checkASCII("application", opts.Application, 128); err != nil {
		return nil, err
	}

	// The ISO plan's tree building is the shared validation: same paths,
	// same messages, same limits (names, depth, 4 GiB, sources by Stat).
	iso := &plan{opts: opts}
	iso.root = &node{isDir: true}
	iso.root.parent = iso.root
	for i := range files {
		if err := iso.add(i, &files[i]); err != nil {
			return nil, err
		}
	}
	p.root = fatTree(iso.root, "")
	if err := p.names(p.root); err != nil {
		return nil, err
	}
	if err := p.layout(forceFAT32); err != nil {
		return nil, err
	}
	p.serial = p.volumeSerial()
	return p, nil
}

// fatTree copies the validated tree, children in byte order of name.
func fatTree(n *node, path string) *fatNode {
	f := &fatNode{name: n.name, path: path, isDir: n.isDir, file: n.file, size: n.size}
	for _, c := range n.children {
		f.kids = append(f.kids, fatTree(c, joinFATPath(path, c.name)))
	}
	sort.Slice(f.kids, func(i, j int) bool { return f.kids[i].name < f.kids[j].name })
	return f
}

func joinFATPath(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

func checkFATLabel(l string) error {
	if len(l) > VFATMaxLabel {
		return fmt.Errorf("images: volume id %q is longer than the %d characters of a FAT label", l, VFATMaxLabel)
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if c < 0x20 || c > 0x7e || strings.IndexByte(`"*+,./:;<=>?[\]|`, c) >= 0 {
			return fmt.Errorf("images: volume id %q: %q is not allowed in a FAT label", l, c)
		}
	}
	if strings.HasPrefix(l, " ") {
		return fmt.Errorf("images: volume id %q: a FAT label cannot start with a space", l)
	}
	return nil
}

// names checks what FAT adds to the shared rules and assigns short names.
func (p *vfatPlan) names(d *fatNode) error {
	seen := make(map[string]string, len(d.kids))
	for _, k := range d.kids {
		if err := checkFATName(k); err != nil {
			return err
		}
		// Linux, Windows and mtools all look names up case-insensitively,
		// so two such names would shadow each other.
		up := strings.ToUpper(k.name)
		if other, ok := seen[up]; ok {
			return pathError(k.path, "FAT names are case-insensitive: %q and %q collide", other, k.name)
		}
		seen[up] = k.name
	}
	assignShortNames(d.kids)
	for _, k := range d.kids {
		if k.isDir {
			if err := p.names(k); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkFATName(n *fatNode) error {
	for i := 0; i < len(n.name); i++ {
		c := n.name[i]
		switch {
		case c >= 0x80:
			// Debian's kernels mount vfat with iocharset=ascii by default
			// (CONFIG_FAT_DEFAULT_IOCHARSET), which cannot show such a name.
			return pathError(n.path, "name %q is not ascii; the guest's vfat driver (iocharset=ascii) could not look it up", n.name)
		case c < 0x20 || strings.IndexByte(`"*/:<>?\|`, c) >= 0:
			return pathError(n.path, "name %q: %q is not allowed in a FAT name", n.name, c)
		}
	}
	// Linux drops trailing dots on lookup and refuses trailing spaces.
	if strings.HasSuffix(n.name, ".") || strings.HasSuffix(n.name, " ") {
		return pathError(n.path, "name %q ends in a dot or space, which FAT drops", n.name)
	}
	return nil
}

// sfnChars are the characters an 8.3 name may hold besides A-Z and 0-9.
const sfnChars = "!#$%&'()-@^_`{}~"

func validSFNChar(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(sfnChars, c) >= 0
}

// basisName is Windows' basis-name generation for an ASCII name: the
// upper-cased base and extension, and whether information was lost (so a
// numeric tail is needed).
func basisName(name string) (base, ext string, lossy bool) {
	s := strings.ToUpper(name)
	if t := strings.ReplaceAll(s, " ", ""); t != s {
		s, lossy = t, true
	}
	if t := strings.TrimLeft(s, "."); t != s {
		s, lossy = t, true
	}
	if i := strings.LastIndexByte(s, '.'); i >= 0 {
		s, ext = s[:i], s[i+1:]
	}
	if t := strings.ReplaceAll(s, ".", ""); t != s {
		s, lossy = t, true
	}
	mapChars := func(s string) string {
		b := []byte(s)
		for i, c := range b {
			if !validSFNChar(c) {
				b[i], lossy = '_', true
			}
		}
		return string(b)
	}
	base, ext = mapChars(s), mapChars(ext)
	if len(ext) > 3 {
		ext, lossy = ext[:3], true
	}
	if len(base) > 8 {
		lossy = true
	}
	if base == "" {
		base, lossy = "_", true
	}
	return base, ext, lossy
}

func packShort(base, ext string) [11]byte {
	var b [11]byte
	copy(b[:], fmt.Sprintf("%-8s%-3s", base, ext))
	return b
}

// assignShortNames gives each entry of one directory a unique 8.3 name.
// Names that fit 8.3 without loss claim their basis first, so a generated
// "~N" name never equals another entry's long name looked up case-blind.
func assignShortNames(kids []*fatNode) {
	taken := map[[11]byte]bool{}
	var rest []*fatNode
	for _, k := range kids {
		base, ext, lossy := basisName(k.name)
		if lossy {
			rest = append(rest, k)
			continue
		}
		k.short = packShort(base, ext)
		taken[k.short] = true
		disp := base
		if ext != "" {
			disp += "." + ext
		}
		k.needLFN = disp != k.name
	}
	for _, k := range rest { // still in byte order
		base, ext, _ := basisName(k.name)
		k.needLFN = true
		for n := 1; ; n++ {
			tail := "~" + strconv.Itoa(n)
			b := base
			if len(b) > 8-len(tail) {
				b = b[:8-len(tail)]
			}
			if s := packShort(b+tail, ext); !taken[s] {
				k.short = s
				taken[s] = true
				break
			}
		}
	}
}

// lfnCount is the number of long-name entries before n's short entry.
func (n *fatNode) lfnCount() int {
	if !n.needLFN {
		return 0
	}
	return (len(n.name) + 12) / 13
}

func (n *fatNode) entries() int { return 1 + n.lfnCount() }

// layout picks the FAT type and cluster size and places everything.
func (p *vfatPlan) layout(forceFAT32 bool) error {
	var dirs, files []*fatNode
	for queue := []*fatNode{p.root}; len(queue) > 0; queue = queue[1:] {
		d := queue[0]
		d.dirEnts = 2
		if d == p.root {
			d.dirEnts = 0
			if p.label != "" {
				d.dirEnts = 1
			}
		}
		for _, k := range d.kids {
			d.dirEnts += k.entries()
			if k.isDir {
				queue = append(queue, k)
			}
		}
		if d.dirEnts > vfatMaxDirEnts {
			return pathError(d.path, "folder needs %d directory entries, more than FAT's %d", d.dirEnts, vfatMaxDirEnts)
		}
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		for _, k := range d.kids {
			if !k.isDir && k.size > 0 {
				files = append(files, k)
			}
		}
	}

	fat32 := forceFAT32
	for cb := int64(vfatMinCluster); ; cb *= 2 {
		if cb > vfatMaxCluster {
			if fat32 {
				return errors.New("images: the files do not fit a FAT32 image")
			}
			fat32, cb = true, vfatMinCluster
		}
		if p.try(fat32, cb, dirs, files) {
			break
		}
	}
	return nil
}

// try lays the image out as FAT32 or FAT16 with cb-byte clusters and reports
// whether the cluster count is within the type's range.
func (p *vfatPlan) try(fat32 bool, cb int64, dirs, files []*fatNode) bool {
	clustersFor := func(bytes int64) int64 { return (bytes + cb - 1) / cb }
	var used int64
	for _, d := range dirs {
		if d == p.root && !fat32 {
			continue
		}
		used += max(1, clustersFor(int64(d.dirEnts)*32))
	}
	for _, f := range files {
		used += clustersFor(f.size)
	}
	minN, maxN := int64(vfatMinFAT16), int64(vfatMaxFAT16)
	entryBytes := int64(2)
	if fat32 {
		minN, maxN, entryBytes = vfatMinFAT32, vfatMaxFAT32, 4
	}
	spc := cb / vfatSector
	n := max(used+clustersFor(vfatSlack), minN)
	// Whole 16 KiB steps, so the image ends on a track boundary too.
	if step := max(1, vfatAlignSectors/spc); n%step != 0 {
		n += step - n%step
	}
	if n > maxN {
		return false
	}

	fatSectors := roundUp((n+2)*entryBytes, vfatSector) / vfatSector
	fatSectors = roundUp(fatSectors, 8)
	var rootEntries, rootSectors int64
	reserved := int64(1)
	if fat32 {
		reserved = 32 // boot, FSInfo, backups at 6 and 7, as mkfs.fat does
	} else {
		rootEntries = max(512, roundUp(int64(p.root.dirEnts), 128))
		if rootEntries > math.MaxUint16-127 {
			return false
		}
		rootSectors = rootEntries * 32 / vfatSector
	}
	meta := reserved + 2*fatSectors + rootSectors
	reserved += roundUp(meta, vfatAlignSectors) - meta
	total := reserved + 2*fatSectors + rootSectors + n*spc
	if total > math.MaxUint32 || reserved > math.MaxUint16 {
		return false
	}

	p.fat32, p.clusterBytes, p.spc = fat32, cb, uint32(spc)
	p.clusters, p.used = uint32(n), uint32(used)
	p.reserved, p.fatSectors, p.rootEntries = uint32(reserved), uint32(fatSectors), uint32(rootEntries)
	p.totalSectors = uint32(total)

	p.dirs, p.files = p.dirs[:0], files
	next := uint32(2)
	place := func(f *fatNode, clusters int64) {
		f.first, f.count = next, uint32(clusters)
		next += uint32(clusters)
	}
	for _, d := range dirs {
		if d == p.root && !fat32 {
			continue
		}
		place(d, max(1, clustersFor(int64(d.dirEnts)*32)))
		p.dirs = append(p.dirs, d)
	}
	for _, f := range files {
		place(f, clustersFor(f.size))
	}
	return true
}

func roundUp(n, m int64) int64 { return (n + m - 1) / m * m }

// volumeSerial is a stable stand-in for the random serial mkfs.fat writes:
// the same seed gets the same one, another node's seed another one. Source
// files count by path and size only, so their content is read just once and
// where they live on the build host does not matter.
func (p *vfatPlan) volumeSerial() uint32 {
	h := sha256.New()
	fmt.Fprintf(h, "etcdimg vfat\x00%s\x00%d\x00", p.label, p.modTime.UnixNano())
	var walk func(d *fatNode)
	walk = func(d *fatNode) {
		for _, k := range d.kids {
			if k.isDir {
				fmt.Fprintf(h, "d\x00%s\x00", k.path)
				walk(k)
				continue
			}
			fmt.Fprintf(h, "f\x00%s\x00%o\x00%d\x00", k.path, uint32(k.file.Mode), k.size)
			h.Write(k.file.Data)
		}
	}
	walk(p.root)
	return binary.LittleEndian.Uint32(h.Sum(nil))
}

// Byte offsets of the regions.
func (p *vfatPlan) fatOffset(i uint32) int64 {
	return int64(p.reserved+i*p.fatSectors) * vfatSector
}
func (p *vfatPlan) rootOffset() int64 { return p.fatOffset(2) }
func (p *vfatPlan) dataOffset() int64 {
	return p.rootOffset() + int64(p.rootEntries)*32
}
func (p *vfatPlan) clusterOffset(c uint32) int64 {
	return p.dataOffset() + int64(c-2)*p.clusterBytes
}

func fatDate(t time.Time) uint16 {
	return uint16((t.Year()-1980)<<9 | int(t.Month())<<5 | t.Day())
}

func fatTime(t time.Time) uint16 {
	return uint16(t.Hour()<<11 | t.Minute()<<5 | t.Second()/2)
}

const (
	attrReadOnly = 0x01
	attrVolumeID = 0x08
	attrDir      = 0x10
	attrArchive  = 0x20
	attrLFN      = 0x0F
)

// dirEntry encodes one 32-byte short entry.
func (p *vfatPlan) dirEntry(name [11]byte, attr byte, cluster uint32, size uint32) []byte {
	e := make([]byte, 32)
	copy(e, name[:])
	e[11] = attr
	t := p.modTime
	// The creation time keeps the odd second and the centiseconds that the
	// 2-second write time cannot.
	e[13] = byte(t.Second()%2*100 + t.Nanosecond()/10_000_000)
	d, tm := fatDate(t), fatTime(t)
	binary.LittleEndian.PutUint16(e[14:], tm)
	binary.LittleEndian.PutUint16(e[16:], d)
	binary.LittleEndian.PutUint16(e[18:], d)
	binary.LittleEndian.PutUint16(e[20:], uint16(cluster>>16))
	binary.LittleEndian.PutUint16(e[22:], tm)
	binary.LittleEndian.PutUint16(e[24:], d)
	binary.LittleEndian.PutUint16(e[26:], uint16(cluster))
	binary.LittleEndian.PutUint32(e[28:], size)
	return e
}

func lfnChecksum(s [11]byte) byte {
	var sum byte
	for _, c := range s {
		sum = (sum>>1 | sum<<7) + c
	}
	return sum
}

// lfnEntries encodes n's long name, last part first as the format wants.
func lfnEntries(n *fatNode) []byte {
	units := []byte(n.name) // ASCII, checked: one UTF-16 unit per byte
	count := n.lfnCount()
	sum := lfnChecksum(n.short)
	out := make([]byte, 0, count*32)
	offsets := [13]int{1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30}
	for seq := count; seq >= 1; seq-- {
		e := make([]byte, 32)
		e[0] = byte(seq)
		if seq == count {
			e[0] |= 0x40
		}
		e[11], e[13] = attrLFN, sum
		for i, off := range offsets {
			j := (seq-1)*13 + i
			var u uint16
			switch {
			case j < len(units):
				u = uint16(units[j])
			case j == len(units):
				u = 0
			default:
				u = 0xFFFF
			}
			binary.LittleEndian.PutUint16(e[off:], u)
		}
		out = append(out, e...)
	}
	return out
}

// dirBytes is folder d's content, padded to its clusters (or root region).
func (p *vfatPlan) dirBytes(d *fatNode, parent *fatNode) []byte {
	var b []byte
	if d == p.root {
		if p.label != "" {
			var l [11]byte
			copy(l[:], fmt.Sprintf("%-11s", p.label))
			b = append(b, p.dirEntry(l, attrVolumeID, 0, 0)...)
		}
	} else {
		var dot, dotdot [11]byte
		copy(dot[:], ".          ")
		copy(dotdot[:], "..         ")
		b = append(b, p.dirEntry(dot, attrDir, d.first, 0)...)
		up := parent.first
		if parent == p.root {
			up = 0 // ".." of a top-level folder is 0 on FAT32 too
		}
		b = append(b, p.dirEntry(dotdot, attrDir, up, 0)...)
	}
	for _, k := range d.kids {
		if k.needLFN {
			b = append(b, lfnEntries(k)...)
		}
		attr := byte(attrDir)
		size := uint32(0)
		if !k.isDir {
			attr, size = attrArchive, uint32(k.size)
			if k.file.Mode&0o222 == 0 {
				attr |= attrReadOnly
			}
		}
		b = append(b, p.dirEntry(k.short, attr, k.first, size)...)
	}
	n := int64(d.count) * p.clusterBytes
	if d == p.root && !p.fat32 {
		n = int64(p.rootEntries) * 32
	}
	return append(b, make([]byte, n-int64(len(b)))...)
}

func (p *vfatPlan) bootSector() []byte {
	b := make([]byte, vfatSector)
	copy(b[3:], "MSWIN4.1") // the OEM name the FAT spec recommends for compatibility
	binary.LittleEndian.PutUint16(b[11:], vfatSector)
	b[13] = byte(p.spc)
	binary.LittleEndian.PutUint16(b[14:], uint16(p.reserved))
	b[16] = 2
	binary.LittleEndian.PutUint16(b[17:], uint16(p.rootEntries))
	if p.totalSectors < 1<<16 && !p.fat32 {
		binary.LittleEndian.PutUint16(b[19:], uint16(p.totalSectors))
	} else {
		binary.LittleEndian.PutUint32(b[32:], p.totalSectors)
	}
	b[21] = 0xF8
	// mtools refuses a filesystem whose size is not a whole number of
	// tracks; the image is sized in 32-sector steps to match.
	binary.LittleEndian.PutUint16(b[24:], vfatAlignSectors)
	binary.LittleEndian.PutUint16(b[26:], 64)
	ext := 36
	if p.fat32 {
		binary.LittleEndian.PutUint32(b[36:], p.fatSectors)
		binary.LittleEndian.PutUint32(b[44:], 2) // root cluster
		binary.LittleEndian.PutUint16(b[48:], 1) // FSInfo sector
		binary.LittleEndian.PutUint16(b[50:], 6) // backup boot sector
		ext = 64
	} else {
		binary.LittleEndian.PutUint16(b[22:], uint16(p.fatSectors))
	}
	b[ext] = 0x80
	b[ext+2] = 0x29
	binary.LittleEndian.PutUint32(b[ext+3:], p.serial)
	label := p.label
	if label == "" {
		label = "NO NAME"
	}
	copy(b[ext+7:], fmt.Sprintf("%-11s", label))
	typ := "FAT16   "
	if p.fat32 {
		typ = "FAT32   "
	}
	copy(b[ext+18:], typ)
	// Not bootable: a firmware that tries anyway gets INT 18h ("boot the
	// next device") instead of running off into zeros.
	code := ext + 26
	b[0], b[1], b[2] = 0xEB, byte(code-2), 0x90
	copy(b[code:], []byte{0xCD, 0x18, 0xEB, 0xFE})
	b[510], b[511] = 0x55, 0xAA
	return b
}

func (p *vfatPlan) fsInfo() []byte {
	b := make([]byte, vfatSector)
	binary.LittleEndian.PutUint32(b[0:], 0x41615252)
	binary.LittleEndian.PutUint32(b[484:], 0x61417272)
	binary.LittleEndian.PutUint32(b[488:], p.clusters-p.used)
	binary.LittleEndian.PutUint32(b[492:], 2+p.used)
	binary.LittleEndian.PutUint32(b[508:], 0xAA550000)
	return b
}

// fat is one copy of the allocation table, up to its last used entry: the
// rest of the table is free (zero) and left as a hole.
func (p *vfatPlan) fat() []byte {
	width := 2
	eoc := uint32(0xFFFF)
	if p.fat32 {
		width, eoc = 4, 0x0FFFFFFF
	}
	b := make([]byte, int(2+p.used)*width)
	put := func(i, v uint32) {
		if width == 2 {
			binary.LittleEndian.PutUint16(b[int(i)*2:], uint16(v))
		} else {
			binary.LittleEndian.PutUint32(b[int(i)*4:], v)
		}
	}
	// Entry 0 repeats the media byte; entry 1 has the clean-unmount and
	// no-error bits set.
	put(0, eoc&^0xFF|0xF8)
	put(1, eoc)
	chain := func(n *fatNode) {
		for c := n.first; c < n.first+n.count-1; c++ {
			put(c, c+1)
		}
		put(n.first+n.count-1, eoc)
	}
	for _, d := range p.dirs {
		chain(d)
	}
	for _, f := range p.files {
		chain(f)
	}
	return b
}

// sparseWriter writes at fixed offsets, skipping page-sized runs of zeros so
// they stay holes in the fresh temporary file.
type sparseWriter struct{ f *os.File }

func (w sparseWriter) writeAt(b []byte, off int64) error {
	const page = 4096
	for len(b) > 0 {
		// Split at page boundaries of the image; write each maximal run of
		// pages that hold a non-zero byte in one call.
		start := -1
		i := 0
		for i < len(b) {
			n := page - int((off+int64(i))%page)
			n = min(n, len(b)-i)
			if zeroPage(b[i : i+n]) {
				if start >= 0 {
					break
				}
			} else if start < 0 {
				start = i
			}
			i += n
		}
		if start >= 0 {
			if _, err := w.f.WriteAt(b[start:i], off+int64(start)); err != nil {
				return fmt.Errorf("images: write image: %w", err)
			}
		}
		b, off = b[i:], off+int64(i)
	}
	return nil
}

func zeroPage(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// writeTo fills f, a new empty file, with the image.
func (p *vfatPlan) writeTo(f *os.File) error {
	w := sparseWriter{f}
	boot := p.bootSector()
	if err := w.writeAt(boot, 0); err != nil {
		return err
	}
	if p.fat32 {
		info := p.fsInfo()
		for _, s := range []struct {
			b   []byte
			sec int64
		}{{info, 1}, {boot, 6}, {info, 7}} {
			if err := w.writeAt(s.b, s.sec*vfatSector); err != nil {
				return err
			}
		}
	}
	fat := p.fat()
	for i := range uint32(2) {
		if err := w.writeAt(fat, p.fatOffset(i)); err != nil {
			return err
		}
	}
	parents := map[*fatNode]*fatNode{}
	for _, d := range append([]*fatNode{p.root}, p.dirs...) {
		for _, k := range d.kids {
			parents[k] = d
		}
	}
	if !p.fat32 {
		if err := w.writeAt(p.dirBytes(p.root, nil), p.rootOffset()); err != nil {
			return err
		}
	}
	for _, d := range p.dirs {
		if err := w.writeAt(p.dirBytes(d, parents[d]), p.clusterOffset(d.first)); err != nil {
			return err
		}
	}
	for _, n := range p.files {
		off := p.clusterOffset(n.first)
		if n.file.SourcePath == "" {
			if err := w.writeAt(n.file.Data, off); err != nil {
				return err
			}
			continue
		}
		if err := copySourceAt(f, n, off); err != nil {
			return err
		}
	}
	// Padding, free clusters and slack were never written: the file ends
	// in a hole of the planned size.
	if err := f.Truncate(p.size()); err != nil {
		return fmt.Errorf("images: write image: %w", err)
	}
	return nil
}

// copySourceAt streams a host file into the image at off. As in the ISO
// writer, a size other than the planned one means the file changed during the
// build and must not produce an image.
func copySourceAt(dst *os.File, n *fatNode, off int64) (err error) {
	path, src := n.path, n.file.SourcePath
	f, err := os.Open(src)
	if err != nil {
		return pathError(path, "open source: %w", err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = pathError(path, "close source: %w", cerr)
		}
	}()
	if _, err := dst.Seek(off, io.SeekStart); err != nil {
		return fmt.Errorf("images: write image: %w", err)
	}
	// *os.File to *os.File through io.Copy: the kernel copies
	// (copy_file_range), and the LimitedReader is unwrapped for it.
	copied, err := io.Copy(dst, io.LimitReader(f, n.size))
	if err != nil {
		return pathError(path, "copy source %q: %w", src, err)
	}
	if copied != n.size {
		return pathError(path, "source %q changed size during the build: copied %d bytes, planned %d", src, copied, n.size)
	}
	var one [1]byte
	if k, _ := f.ReadAt(one[:], n.size); k > 0 {
		return pathError(path, "source %q changed size during the build: grew past %d bytes", src, n.size)
	}
	return nil
}

// writeFile is WriteVFAT once the plan is made: the same durable.Pending
// as the ISO's WriteFile. Its temporary file is new and empty, so the
// regions writeTo skips stay holes.
func (p *vfatPlan) writeFile(path string, mode fs.FileMode) (err error) {
	w, err := durable.Create(path, mode)
	if err != nil {
		return fmt.Errorf("images: %w", err)
	}
	defer func() {
		if err != nil {
			w.Abort()
		}
	}()
	if err = p.writeTo(w.File()); err != nil {
		return err
	}
	if err = w.Commit(); err != nil {
		return fmt.Errorf("images: %w", err)
	}
	return nil
}
