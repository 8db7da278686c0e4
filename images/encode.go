package images

import (
	"encoding/binary"
	"fmt"
	"io/fs"
	"time"
	"unicode/utf16"
)

// ECMA-119 stores most numbers twice, little-endian then big-endian, so
// readers of either byte order can use them directly.
func putBoth16(b []byte, v uint16) {
	binary.LittleEndian.PutUint16(b[0:], v)
	binary.BigEndian.PutUint16(b[2:], v)
}

func putBoth32(b []byte, v uint32) {
	binary.LittleEndian.PutUint32(b[0:], v)
	binary.BigEndian.PutUint32(b[4:], v)
}

// recordDate is the 7-byte form of directory records and TF. Times are UTC,
// so the offset byte is 0 and the bytes do not depend on the host's zone.
func recordDate(t time.Time) []byte {
	return []byte{byte(t.Year() - 1900), byte(t.Month()), byte(t.Day()),
		byte(t.Hour()), byte(t.Minute()), byte(t.Second()), 0}
}

// decDate is the 17-byte form of volume descriptors.
func decDate(t time.Time) []byte {
	s := fmt.Sprintf("%04d%02d%02d%02d%02d%02d%02d", t.Year(), t.Month(), t.Day(),
		t.Hour(), t.Minute(), t.Second(), t.Nanosecond()/10_000_000)
	return append([]byte(s), 0)
}

// noDate is the "not specified" 17-byte date (all digits zero).
func noDate() []byte {
	return append([]byte("0000000000000000"), 0)
}

// putASCII writes s space padded; validation has bounded its length.
func putASCII(b []byte, s string) {
	n := copy(b, s)
	for i := n; i < len(b); i++ {
		b[i] = ' '
	}
}

// putUCS2 writes s as UCS-2 BE, truncated to the field, padded with UCS-2
// spaces; an odd last byte (the 37-byte file id fields) stays zero.
func putUCS2(b []byte, s string) {
	u := utf16.Encode([]rune(s))
	for i := 0; 2*i+1 < len(b); i++ {
		c := uint16(' ')
		if i < len(u) {
			c = u[i]
		}
		b[2*i], b[2*i+1] = byte(c>>8), byte(c)
	}
}

const (
	vdPrimary       = 1
	vdSupplementary = 2
	vdTerminator    = 255
)

// volumeDescriptor builds the PVD or, with joliet, the Joliet SVD.
func (p *plan) volumeDescriptor(joliet bool) []byte {
	b := make([]byte, sectorSize)
	b[0] = vdPrimary
	put := putASCII
	root := p.record(p.root, []byte{0}, joliet, nil)
	ptSize, ptL, ptM := p.isoPTSize, p.isoPTL, p.isoPTM
	if joliet {
		b[0] = vdSupplementary
		put = putUCS2
		ptSize, ptL, ptM = p.jolPTSize, p.jolPTL, p.jolPTM
		// UCS-2 level 3: what makes this SVD a Joliet one.
		copy(b[88:], "%/E")
	}
	copy(b[1:6], "CD001")
	b[6] = 1
	put(b[8:40], "") // system identifier
	put(b[40:72], p.opts.VolumeID)
	putBoth32(b[80:], p.totalSectors)
	putBoth16(b[120:], 1) // volume set size
	putBoth16(b[124:], 1) // volume sequence number
	putBoth16(b[128:], sectorSize)
	putBoth32(b[132:], ptSize)
	binary.LittleEndian.PutUint32(b[140:], ptL)
	binary.BigEndian.PutUint32(b[148:], ptM)
	copy(b[156:190], root)
	put(b[190:318], "") // volume set identifier
	put(b[318:446], p.opts.Publisher)
	put(b[446:574], "") // data preparer
	put(b[574:702], p.opts.Application)
	put(b[702:739], "")               // copyright file
	put(b[739:776], "")               // abstract file
	put(b[776:813], "")               // bibliographic file
	copy(b[813:], decDate(p.modTime)) // creation
	copy(b[830:], decDate(p.modTime)) // modification
	copy(b[847:], noDate())           // expiration
	copy(b[864:], decDate(p.modTime)) // effective
	b[881] = 1                        // file structure version
	return b
}

func terminator() []byte {
	b := make([]byte, sectorSize)
	b[0] = vdTerminator
	copy(b[1:6], "CD001")
	b[6] = 1
	return b
}

// pathTable builds the L (little-endian) or M (big-endian) path table.
func (p *plan) pathTable(joliet, bigEndian bool) []byte {
	var order binary.ByteOrder = binary.LittleEndian
	if bigEndian {
		order = binary.BigEndian
	}
	dirs := p.isoDirs
	if joliet {
		dirs = p.jolDirs
	}
	var out []byte
	for _, d := range dirs {
		id := []byte{0}
		loc, parent := d.isoLoc, d.parent.isoNum
		if joliet {
			loc, parent = d.jolLoc, d.parent.jolNum
		}
		if d != d.parent {
			id = d.isoIdentifier()
			if joliet {
				id = d.jolietIdentifier()
			}
		}
		rec := make([]byte, 8+len(id)+len(id)%2)
		rec[0] = byte(len(id))
		order.PutUint32(rec[2:], loc)
		order.PutUint16(rec[6:], parent)
		copy(rec[8:], id)
		out = append(out, rec...)
	}
	return out
}

// record builds one directory record describing target under identifier id,
// with sua as its system use area.
func (p *plan) record(target *node, id []byte, joliet bool, sua []byte) []byte {
	pad := 0
	if len(id)%2 == 0 {
		pad = 1
	}
	n := 33 + len(id) + pad + len(sua)
	b := make([]byte, n)
	b[0] = byte(n)
	var loc, size uint32
	switch {
	case target.isDir && joliet:
		loc, size = target.jolLoc, target.jolSize
	case target.isDir:
		loc, size = target.isoLoc, target.isoSize
	default:
		loc, size = target.loc, uint32(target.size)
	}
	putBoth32(b[2:], loc)
	putBoth32(b[10:], size)
	copy(b[18:25], recordDate(p.modTime))
	if target.isDir {
		b[25] = 0x02
	}
	putBoth16(b[28:], 1) // volume sequence number
	b[32] = byte(len(id))
	copy(b[33:], id)
	copy(b[33+len(id)+pad:], sua)
	return b
}

// Rock Ridge flags of the RR entry: which RRIP fields the record holds.
// Linux stops looking for NM in a record whose RR lacks the NM bit, so the
// flags must be exact per record.
const (
	rrPX = 0x01
	rrNM = 0x08
	rrTF = 0x80
)

// rockRidge builds the system use area of a primary-tree record for target;
// name is the real name for NM, empty for "." and "..", and rootSelf adds
// the SP and CE entries that belong in the root's "." record only.
func (p *plan) rockRidge(target *node, name string, rootSelf bool) []byte {
	var b []byte
	if rootSelf {
		// SP: SUSP is in use, no bytes skipped. Must come first.
		b = append(b, 'S', 'P', 7, 1, 0xbe, 0xef, 0)
	}
	flags := byte(rrPX | rrTF)
	if name != "" {
		flags |= rrNM
	}
	b = append(b, 'R', 'R', 5, 1, flags)
	if name != "" {
		b = append(b, 'N', 'M', byte(5+len(name)), 1, 0)
		b = append(b, name...)
	}

	px := make([]byte, 36)
	copy(px, "PX")
	px[2], px[3] = 36, 1
	putBoth32(px[4:], posixMode(target))
	putBoth32(px[12:], target.nlink)
	var uid, gid uint32
	if target.file != nil {
		uid, gid = target.file.UID, target.file.GID
	}
	putBoth32(px[20:], uid)
	putBoth32(px[28:], gid)
	b = append(b, px...)

	// TF: modify, access and attributes times, all from ModTime.
	b = append(b, 'T', 'F', 5+3*7, 1, 0x0e)
	for range 3 {
		b = append(b, recordDate(p.modTime)...)
	}

	if rootSelf {
		// CE last: go-diskfs follows a continuation only in last place.
		ce := make([]byte, 28)
		copy(ce, "CE")
		ce[2], ce[3] = 28, 1
		putBoth32(ce[4:], p.ceLoc)
		putBoth32(ce[12:], 0)
		putBoth32(ce[20:], uint32(len(p.er)))
		b = append(b, ce...)
	}
	// A record's length must be even; readers stop at fewer than 4 bytes.
	if len(b)%2 != 0 {
		b = append(b, 0)
	}
	return b
}

// posixMode is st_mode as RRIP records it, file type included.
func posixMode(n *node) uint32 {
	if n.isDir {
		return 0o040000 | 0o555
	}
	m := uint32(n.file.Mode.Perm())
	if n.file.Mode&fs.ModeSetuid != 0 {
		m |= 0o4000
	}
	if n.file.Mode&fs.ModeSetgid != 0 {
		m |= 0o2000
	}
	if n.file.Mode&fs.ModeSticky != 0 {
		m |= 0o1000
	}
	return 0o100000 | m
}

// erEntry announces RRIP 1.10; it is longer than what is left in the root's
// "." record, hence the continuation area.
func erEntry() []byte {
	const (
		id  = "RRIP_1991A"
		des = "THE ROCK RIDGE INTERCHANGE PROTOCOL PROVIDES SUPPORT FOR POSIX FILE SYSTEM SEMANTICS"
		src = "PLEASE CONTACT DISC PUBLISHER FOR SPECIFICATION SOURCE.  SEE PUBLISHER IDENTIFIER IN PRIMARY VOLUME DESCRIPTOR FOR CONTACT INFORMATION."
	)
	b := []byte{'E', 'R', byte(8 + len(id) + len(des) + len(src)), 1, byte(len(id)), byte(len(des)), byte(len(src)), 1}
	b = append(b, id...)
	b = append(b, des...)
	return append(b, src...)
}

// dirExtent builds a directory's whole extent, sector padded. A record that
// does not fit in what is left of a sector starts the next one: records
// never cross sector boundaries.
func (p *plan) dirExtent(d *node, joliet bool) []byte {
	recs := [][]byte{
		p.dirRecord(d, []byte{0}, joliet, d == d.parent),
		p.dirRecord(d.parent, []byte{1}, joliet, false),
	}
	kids := d.isoKids
	if joliet {
		kids = d.jolKids
	}
	for _, c := range kids {
		if joliet {
			recs = append(recs, p.record(c, c.jolietIdentifier(), true, nil))
		} else {
			recs = append(recs, p.record(c, c.isoIdentifier(), false, p.rockRidge(c, c.name, false)))
		}
	}
	var out []byte
	for _, r := range recs {
		if room := sectorSize - len(out)%sectorSize; len(r) > room {
			out = append(out, make([]byte, room)...)
		}
		out = append(out, r...)
	}
	if rest := len(out) % sectorSize; rest != 0 {
		out = append(out, make([]byte, sectorSize-rest)...)
	}
	return out
}

// dirRecord is a "." or ".." record; in the primary tree it carries the
// Rock Ridge attributes of the directory it points to.
func (p *plan) dirRecord(target *node, id []byte, joliet, rootSelf bool) []byte {
	if joliet {
		return p.record(target, id, true, nil)
	}
	return p.record(target, id, false, p.rockRidge(target, "", rootSelf))
}
