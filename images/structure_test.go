package images

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"unicode/utf16"
)

// This file is a small, strict ISO 9660 reader written against ECMA-119,
// SUSP and RRIP rather than against the writer: it checks what lenient
// readers would let pass (both-endian pairs, sector crossing, order, every
// timestamp, the SUSP entry order in the root).

type rawRecord struct {
	off        int // absolute byte offset
	loc, size  uint32
	date       []byte
	flags      byte
	id         []byte
	sua        []byte
	recordSize int
}

type suspEntry struct {
	sig  string
	data []byte // whole entry, header included
}

func both32(t *testing.T, b []byte, what string) uint32 {
	t.Helper()
	le, be := binary.LittleEndian.Uint32(b), binary.BigEndian.Uint32(b[4:])
	if le != be {
		t.Errorf("%s: both-endian mismatch %d / %d", what, le, be)
	}
	return le
}

func both16(t *testing.T, b []byte, what string) uint16 {
	t.Helper()
	le, be := binary.LittleEndian.Uint16(b), binary.BigEndian.Uint16(b[2:])
	if le != be {
		t.Errorf("%s: both-endian mismatch %d / %d", what, le, be)
	}
	return le
}

func parseRecord(t *testing.T, img []byte, off int, joliet bool) rawRecord {
	t.Helper()
	n := int(img[off])
	b := img[off : off+n]
	if n < 34 || n%2 != 0 {
		t.Fatalf("record at %d: bad length %d", off, n)
	}
	r := rawRecord{off: off, recordSize: n}
	r.loc = both32(t, b[2:], fmt.Sprintf("record at %d location", off))
	r.size = both32(t, b[10:], fmt.Sprintf("record at %d size", off))
	r.date = b[18:25]
	r.flags = b[25]
	if b[26] != 0 || b[27] != 0 || b[1] != 0 {
		t.Errorf("record at %d: unit size, gap or xattr length set", off)
	}
	if both16(t, b[28:], "volume sequence") != 1 {
		t.Errorf("record at %d: volume sequence number not 1", off)
	}
	idLen := int(b[32])
	r.id = b[33 : 33+idLen]
	start := 33 + idLen
	if idLen%2 == 0 {
		if b[start] != 0 {
			t.Errorf("record at %d: padding byte not zero", off)
		}
		start++
	}
	r.sua = b[start:]
	if joliet && len(r.sua) != 0 {
		t.Errorf("joliet record at %d has a system use area", off)
	}
	return r
}

// parseSUSP splits a system use area; fewer than 4 trailing bytes must be
// zero padding.
func parseSUSP(t *testing.T, sua []byte, where string) []suspEntry {
	t.Helper()
	var out []suspEntry
	i := 0
	for i+4 <= len(sua) {
		n := int(sua[i+2])
		if n < 4 || i+n > len(sua) {
			t.Fatalf("%s: bad SUSP entry length %d at %d", where, n, i)
		}
		if sua[i+3] != 1 {
			t.Errorf("%s: SUSP entry %q version %d", where, sua[i:i+2], sua[i+3])
		}
		out = append(out, suspEntry{sig: string(sua[i : i+2]), data: sua[i : i+n]})
		i += n
	}
	for ; i < len(sua); i++ {
		if sua[i] != 0 {
			t.Errorf("%s: trailing system use bytes are not padding", where)
		}
	}
	return out
}

// readDirExtent returns the records of a directory, checking that none
// crosses a sector boundary and that unused space is zero.
func readDirExtent(t *testing.T, img []byte, loc, size uint32, joliet bool) []rawRecord {
	t.Helper()
	if size == 0 || size%sectorSize != 0 {
		t.Fatalf("directory at %d: size %d is not whole sectors", loc, size)
	}
	start, end := int(loc)*sectorSize, int(loc)*sectorSize+int(size)
	var recs []rawRecord
	for off := start; off < end; {
		if img[off] == 0 {
			next := (off/sectorSize + 1) * sectorSize
			if !allZero(img[off:next]) {
				t.Errorf("directory at %d: garbage after last record of sector", loc)
			}
			off = next
			continue
		}
		n := int(img[off])
		if off/sectorSize != (off+n-1)/sectorSize {
			t.Errorf("directory at %d: record at %d crosses a sector boundary", loc, off)
		}
		recs = append(recs, parseRecord(t, img, off, joliet))
		off += n
	}
	return recs
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

var (
	isoFileID = regexp.MustCompile(`^([A-Z0-9_]{1,8})\.([A-Z0-9_]{0,3});1$`)
	isoDirID  = regexp.MustCompile(`^[A-Z0-9_]{1,8}$`)
)

// isoSortKey splits an identifier the way ECMA-119 9.3 orders it.
func isoSortKey(id string) (string, string) {
	if m := isoFileID.FindStringSubmatch(id); m != nil {
		return m[1], m[2]
	}
	return id, ""
}

type seenFile struct {
	loc, size uint32
	mode      uint32
	uid, gid  uint32
}

type dirInfo struct {
	path   string // real path in the tree walked
	loc    uint32
	parent uint32 // parent's location
	id     []byte
	level  int
}

// walkTree walks a hierarchy from its root record and returns files by path
// and directories in discovery order.
func walkTree(t *testing.T, img []byte, root rawRecord, joliet bool, check func(dir string, recs []rawRecord)) (map[string]seenFile, []dirInfo) {
	t.Helper()
	files := map[string]seenFile{}
	var dirs []dirInfo
	var walk func(path string, loc, size, parent uint32, level int, id []byte)
	walk = func(path string, loc, size, parent uint32, level int, id []byte) {
		dirs = append(dirs, dirInfo{path: path, loc: loc, parent: parent, id: id, level: level})
		recs := readDirExtent(t, img, loc, size, joliet)
		if len(recs) < 2 || !bytes.Equal(recs[0].id, []byte{0}) || !bytes.Equal(recs[1].id, []byte{1}) {
			t.Fatalf("directory %q does not start with . and ..", path)
		}
		if recs[0].loc != loc || recs[0].size != size {
			t.Errorf("directory %q: . points to %d/%d, want %d/%d", path, recs[0].loc, recs[0].size, loc, size)
		}
		if recs[1].loc != parent {
			t.Errorf("directory %q: .. points to %d, want %d", path, recs[1].loc, parent)
		}
		check(path, recs)
		for _, r := range recs[2:] {
			name := string(r.id)
			if joliet {
				name = decodeUCS2(r.id)
			} else if nm := findEntry(parseSUSP(t, r.sua, name), "NM"); nm != nil {
				name = string(nm.data[5:])
			}
			p := joinPath(path, name)
			if r.flags&2 != 0 {
				walk(p, r.loc, r.size, loc, level+1, r.id)
				continue
			}
			if _, dup := files[p]; dup {
				t.Errorf("%q listed twice", p)
			}
			sf := seenFile{loc: r.loc, size: r.size}
			if px := findEntry(parseSUSP(t, r.sua, p), "PX"); px != nil {
				sf.mode = binary.LittleEndian.Uint32(px.data[4:])
				sf.uid = binary.LittleEndian.Uint32(px.data[20:])
				sf.gid = binary.LittleEndian.Uint32(px.data[28:])
			}
			files[p] = sf
		}
	}
	walk("", root.loc, root.size, root.loc, 1, []byte{0})
	return files, dirs
}

func findEntry(es []suspEntry, sig string) *suspEntry {
	for i := range es {
		if es[i].sig == sig {
			return &es[i]
		}
	}
	return nil
}

func decodeUCS2(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.BigEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

func TestImageStructure(t *testing.T) {
	fx, path := builtImage(t)
	img, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(img)%sectorSize != 0 {
		t.Fatalf("image size %d is not whole sectors", len(img))
	}
	if !allZero(img[:16*sectorSize]) {
		t.Error("system area (sectors 0-15) is not zero")
	}
	pvd, svd, term := img[16*sectorSize:17*sectorSize], img[17*sectorSize:18*sectorSize], img[18*sectorSize:19*sectorSize]
	for i, vd := range [][]byte{pvd, svd, term} {
		if want := []byte{1, 2, 255}[i]; vd[0] != want || string(vd[1:6]) != "CD001" || vd[6] != 1 {
			t.Fatalf("sector %d is not a volume descriptor of type %d", 16+i, want)
		}
	}
	if string(svd[88:91]) != "%/E" {
		t.Errorf("SVD escape sequence %q, want %%/E", svd[88:91])
	}
	if !allZero(term[7:]) {
		t.Error("terminator not zero after its header")
	}
	if got := string(pvd[40:72]); got != "cidata"+strings.Repeat(" ", 26) {
		t.Errorf("PVD volume id %q", got)
	}
	if got := decodeUCS2(svd[40:72]); got != "cidata"+strings.Repeat(" ", 10) {
		t.Errorf("SVD volume id %q", got)
	}
	if got := strings.TrimRight(string(pvd[318:446]), " "); got != "etcdimg tests" {
		t.Errorf("publisher %q", got)
	}
	if got := strings.TrimRight(decodeUCS2(svd[574:702]), " "); got != "etcdimg" {
		t.Errorf("joliet application %q", got)
	}
	wantDate := "2009021323313000\x00"
	for _, vd := range [][]byte{pvd, svd} {
		if size := both32(t, vd[80:], "volume space size"); int(size)*sectorSize != len(img) {
			t.Errorf("volume space size %d sectors, image has %d", size, len(img)/sectorSize)
		}
		if both16(t, vd[120:], "set size") != 1 || both16(t, vd[124:], "seq") != 1 || both16(t, vd[128:], "block") != sectorSize {
			t.Error("volume set size, sequence number or block size wrong")
		}
		for _, off := range []int{813, 830, 864} {
			if got := string(vd[off : off+17]); got != wantDate {
				t.Errorf("VD date at %d is %q, want %q", off, got, wantDate)
			}
		}
		if got := string(vd[847 : 847+17]); got != "0000000000000000\x00" {
			t.Errorf("expiration date %q, want unspecified", got)
		}
		if vd[881] != 1 {
			t.Error("file structure version not 1")
		}
	}
	wantRecDate := []byte{109, 2, 13, 23, 31, 30, 0}

	// Primary tree with Rock Ridge.
	pRoot := parseRecord(t, img, 16*sectorSize+156, false)
	if pRoot.recordSize != 34 || !bytes.Equal(pRoot.id, []byte{0}) {
		t.Fatalf("PVD root record malformed")
	}
	specs := map[string]File{}
	for _, f := range fx.files {
		specs[f.Path] = f
	}
	var erFound bool
	multiSector := false
	pFiles, pDirs := walkTree(t, img, pRoot, false, func(dir string, recs []rawRecord) {
		if recs[0].size > sectorSize {
			multiSector = true
		}
		subdirs := 0
		var prev string
		keys := map[string]bool{}
		for i, r := range recs {
			where := fmt.Sprintf("%q record %d (%q)", dir, i, r.id)
			if !bytes.Equal(r.date, wantRecDate) {
				t.Errorf("%s: recording date % x", where, r.date)
			}
			es := parseSUSP(t, r.sua, where)
			if i == 0 && dir == "" {
				// Root ".": SP first, then RR, CE last, ER in the continuation.
				if len(es) < 3 || es[0].sig != "SP" || !bytes.Equal(es[0].data, []byte{'S', 'P', 7, 1, 0xbe, 0xef, 0}) || es[1].sig != "RR" || es[len(es)-1].sig != "CE" {
					t.Fatalf("root . system use %v, want SP, RR, ..., CE", sigs(es))
				}
				ce := es[len(es)-1].data
				loc := both32(t, ce[4:], "CE location")
				off := both32(t, ce[12:], "CE offset")
				n := both32(t, ce[20:], "CE length")
				cont := parseSUSP(t, img[int(loc)*sectorSize+int(off):int(loc)*sectorSize+int(off+n)], "continuation")
				if er := findEntry(cont, "ER"); er != nil {
					d := er.data
					idLen := int(d[4])
					erFound = string(d[8:8+idLen]) == "RRIP_1991A" && d[7] == 1 && int(d[2]) == 8+idLen+int(d[5])+int(d[6])
				}
				es = es[:len(es)-1]
			} else if findEntry(es, "SP") != nil || findEntry(es, "CE") != nil {
				t.Errorf("%s: SP or CE outside the root's . record", where)
			}
			px, tf, nm, rr := findEntry(es, "PX"), findEntry(es, "TF"), findEntry(es, "NM"), findEntry(es, "RR")
			if px == nil || len(px.data) != 36 || tf == nil || rr == nil {
				t.Fatalf("%s: want RR, PX (36 bytes) and TF, have %v", where, sigs(es))
			}
			wantFlags := byte(rrPX | rrTF)
			if i >= 2 {
				wantFlags |= rrNM
			}
			if rr.data[4] != wantFlags {
				t.Errorf("%s: RR flags %#x, want %#x", where, rr.data[4], wantFlags)
			}
			if tf.data[4] != 0x0e || len(tf.data) != 26 {
				t.Errorf("%s: TF flags %#x length %d", where, tf.data[4], len(tf.data))
			}
			for k := 0; k < 3; k++ {
				if !bytes.Equal(tf.data[5+7*k:12+7*k], wantRecDate) {
					t.Errorf("%s: TF stamp %d is % x", where, k, tf.data[5+7*k:12+7*k])
				}
			}
			mode := both32(t, px.data[4:], "PX mode")
			nlink := both32(t, px.data[12:], "PX nlink")
			both32(t, px.data[20:], "PX uid")
			both32(t, px.data[28:], "PX gid")
			if r.flags&2 != 0 && (mode != 0o40555 || nlink < 2) {
				t.Errorf("%s: directory PX mode %o nlink %d", where, mode, nlink)
			}
			if r.flags&2 == 0 && (mode&0o170000 != 0o100000 || nlink != 1) {
				t.Errorf("%s: file PX mode %o nlink %d", where, mode, nlink)
			}
			if i < 2 {
				if nm != nil {
					t.Errorf("%s: NM on a dot record", where)
				}
				continue
			}
			if r.flags&2 != 0 {
				subdirs++
			}
			if nm == nil || nm.data[4] != 0 {
				t.Fatalf("%s: no plain NM entry", where)
			}
			id := string(r.id)
			if r.flags&2 != 0 && !isoDirID.MatchString(id) || r.flags&2 == 0 && !isoFileID.MatchString(id) {
				t.Errorf("%s: identifier is not level-1", where)
			}
			b, e := isoSortKey(id)
			key := b
			if e != "" {
				key += "." + e
			}
			if keys[key] {
				t.Errorf("%s: identifier clashes with another once ;1 and the dot go", where)
			}
			keys[key] = true
			if cur := b + "\x00" + e; i > 2 && cur <= prev {
				t.Errorf("%s: not sorted after %q", where, prev)
			}
			prev = b + "\x00" + e
		}
		if n := binary.LittleEndian.Uint32(parseSUSPOrDie(t, recs[0].sua, "PX").data[12:]); n != uint32(2+subdirs) {
			t.Errorf("%q: nlink %d, want %d", dir, n, 2+subdirs)
		}
	})
	if !erFound {
		t.Error("no ER entry for RRIP_1991A in the continuation area")
	}
	if !multiSector {
		t.Error("fixture has no directory spanning several sectors")
	}
	checkFiles(t, "primary", img, pFiles, fx.want)
	for p, f := range pFiles {
		s := specs[p]
		if f.mode != posixMode(&node{file: &s}) || f.uid != s.UID || f.gid != s.GID {
			t.Errorf("%s: PX mode %o uid %d gid %d, want mode %o uid %d gid %d", p, f.mode, f.uid, f.gid, posixMode(&node{file: &s}), s.UID, s.GID)
		}
	}

	// Joliet tree: same files, same extents.
	jRoot := parseRecord(t, img, 17*sectorSize+156, true)
	jmap := jolietPaths(t, fx.files)
	jFiles, jDirs := walkTree(t, img, jRoot, true, func(dir string, recs []rawRecord) {
		for i, r := range recs {
			if !bytes.Equal(r.date, wantRecDate) {
				t.Errorf("joliet %q record %d: date % x", dir, i, r.date)
			}
			if i >= 2 && (len(r.id) > 2*jolietMaxName || strings.Contains(decodeUCS2(r.id), ";")) {
				t.Errorf("joliet %q: identifier %q too long or versioned", dir, decodeUCS2(r.id))
			}
		}
	})
	checkFiles(t, "joliet", img, jFiles, remap(fx.want, jmap))
	for real, jp := range jmap {
		if pf, ok := pFiles[real]; ok && jFiles[jp].loc != pf.loc {
			t.Errorf("%s: joliet extent %d, primary %d", real, jFiles[jp].loc, pf.loc)
		}
	}
	if _, ok := jFiles["collide/"+longName1[:59]+".yaml"]; !ok {
		t.Errorf("long name not truncated to 64 characters keeping .yaml; joliet names: %v", sortedKeys(jFiles))
	}

	// Path tables of both trees.
	checkPathTables(t, img, pvd, pDirs, false)
	checkPathTables(t, img, svd, jDirs, true)

	// The fixture's last extent is a whole number of sectors and ends the image.
	var last seenFile
	for _, f := range pFiles {
		if f.loc > last.loc {
			last = f
		}
	}
	if last.size%sectorSize != 0 || int(last.loc)*sectorSize+int(last.size) != len(img) {
		t.Errorf("last extent at %d size %d does not end the image (%d bytes) exactly", last.loc, last.size, len(img))
	}
}

func parseSUSPOrDie(t *testing.T, sua []byte, sig string) *suspEntry {
	t.Helper()
	e := findEntry(parseSUSP(t, sua, sig), sig)
	if e == nil {
		t.Fatalf("no %s entry", sig)
	}
	return e
}

func sigs(es []suspEntry) []string {
	var s []string
	for _, e := range es {
		s = append(s, e.sig)
	}
	return s
}

// checkFiles compares extents with the expected contents and checks that no
// two extents overlap.
func checkFiles(t *testing.T, tree string, img []byte, got map[string]seenFile, want map[string][]byte) {
	t.Helper()
	type span struct{ lo, hi uint32 }
	var spans []span
	for _, p := range sortedKeys(want) {
		f, ok := got[p]
		if !ok {
			t.Errorf("%s: %s missing", tree, p)
			continue
		}
		if len(want[p]) == 0 {
			if f.loc != 0 || f.size != 0 {
				t.Errorf("%s: empty %s has extent %d length %d, want 0/0", tree, p, f.loc, f.size)
			}
			continue
		}
		start := int(f.loc) * sectorSize
		if start+int(f.size) > len(img) || !bytes.Equal(img[start:start+int(f.size)], want[p]) {
			t.Errorf("%s: %s content differs", tree, p)
			continue
		}
		end := (start + int(f.size) + sectorSize - 1) / sectorSize * sectorSize
		if !allZero(img[start+int(f.size) : end]) {
			t.Errorf("%s: %s padding not zero", tree, p)
		}
		spans = append(spans, span{f.loc, uint32(end / sectorSize)})
	}
	if len(got) != len(want) {
		t.Errorf("%s: %d files, want %d", tree, len(got), len(want))
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].lo < spans[j].lo })
	for i := 1; i < len(spans); i++ {
		if spans[i].lo < spans[i-1].hi {
			t.Errorf("%s: extents overlap at sector %d", tree, spans[i].lo)
		}
	}
}

// checkPathTables compares both path tables of a descriptor with the
// directories found by walking the tree, and checks their order.
func checkPathTables(t *testing.T, img, vd []byte, dirs []dirInfo, joliet bool) {
	t.Helper()
	size := both32(t, vd[132:], "path table size")
	lLoc, mLoc := binary.LittleEndian.Uint32(vd[140:]), binary.BigEndian.Uint32(vd[148:])
	if binary.LittleEndian.Uint32(vd[144:]) != 0 || binary.BigEndian.Uint32(vd[152:]) != 0 {
		t.Error("optional path tables should be absent")
	}
	type ptRec struct {
		loc    uint32
		parent uint16
		id     string
	}
	parse := func(loc uint32, order binary.ByteOrder) []ptRec {
		b := img[int(loc)*sectorSize : int(loc)*sectorSize+int(size)]
		var out []ptRec
		for i := 0; i < len(b); {
			n := int(b[i])
			out = append(out, ptRec{order.Uint32(b[i+2:]), order.Uint16(b[i+6:]), string(b[i+8 : i+8+n])})
			i += 8 + n + n%2
		}
		return out
	}
	l, m := parse(lLoc, binary.LittleEndian), parse(mLoc, binary.BigEndian)
	if fmt.Sprint(l) != fmt.Sprint(m) {
		t.Errorf("joliet=%v: L and M path tables differ", joliet)
	}
	if len(l) != len(dirs) {
		t.Fatalf("joliet=%v: path table has %d directories, tree %d", joliet, len(l), len(dirs))
	}
	num := map[uint32]int{} // location -> path table number
	level := map[uint32]int{}
	for i, r := range l {
		num[r.loc] = i + 1
	}
	byLoc := map[uint32]dirInfo{}
	for _, d := range dirs {
		byLoc[d.loc] = d
		level[d.loc] = d.level
	}
	for i, r := range l {
		d, ok := byLoc[r.loc]
		if !ok {
			t.Errorf("path table entry %d points to %d, not a directory", i+1, r.loc)
			continue
		}
		if r.id != string(d.id) || int(r.parent) != num[d.parent] {
			t.Errorf("path table entry %d: id %q parent %d, want %q parent %d", i+1, r.id, r.parent, d.id, num[d.parent])
		}
		if i == 0 {
			continue
		}
		p := l[i-1]
		pl, cl := level[p.loc], level[r.loc]
		switch {
		case cl < pl:
			t.Errorf("path table entry %d: level goes down", i+1)
		case cl == pl && r.parent < p.parent:
			t.Errorf("path table entry %d: parent numbers not ascending", i+1)
		case cl == pl && r.parent == p.parent && !joliet && r.id <= p.id:
			t.Errorf("path table entry %d: %q not after %q", i+1, r.id, p.id)
		}
	}
}
