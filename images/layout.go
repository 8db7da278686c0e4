package images

import (
	"fmt"
	"math"
	"sort"
	"time"
)

const (
	sectorSize = 2048
	// firstFreeSector follows the system area (0-15), the two volume
	// descriptors (16, 17) and the terminator (18).
	firstFreeSector = 19
)

// node is a file or directory of the tree; one tree of nodes serves both the
// primary and the Joliet hierarchy, which differ only in names, order and
// directory extents.
type node struct {
	name     string // real name, recorded in Rock Ridge NM
	isDir    bool
	parent   *node // the root is its own parent
	children []*node
	index    map[string]*node // look-ups only; see child

	file *File
	size int64  // file size, fixed at planning
	loc  uint32 // file extent, 0 for empty files

	iso    isoName
	joliet []uint16

	isoKids, jolKids []*node // children in each tree's record order
	isoLoc, isoSize  uint32  // directory extent in the primary tree
	jolLoc, jolSize  uint32  // directory extent in the Joliet tree
	isoNum, jolNum   uint16  // 1-based path table numbers
	nlink            uint32
}

// plan is the complete, validated layout; writing it needs no more decisions.
type plan struct {
	opts    Options
	modTime time.Time
	root    *node

	isoDirs, jolDirs []*node // path table order
	files            []*node // data order

	isoPTSize, jolPTSize uint32
	isoPTL, isoPTM       uint32 // path table sectors
	jolPTL, jolPTM       uint32
	ceLoc                uint32 // Rock Ridge continuation sector
	er                   []byte // the ER entry stored there
	totalSectors         uint32
}

func sectorsFor(n int64) uint32 {
	return uint32((n + sectorSize - 1) / sectorSize)
}

// layout names, orders and places everything.
func (p *plan) layout() error {
	p.er = erEntry()

	// Names and orders, per directory, breadth first.
	var dirs []*node
	for queue := []*node{p.root}; len(queue) > 0; queue = queue[1:] {
		d := queue[0]
		dirs = append(dirs, d)
		assignISONames(d)
		assignJolietNames(d)
		d.isoKids = append([]*node(nil), d.children...)
		sort.Slice(d.isoKids, func(i, j int) bool { return compareISO(d.isoKids[i], d.isoKids[j]) < 0 })
		d.jolKids = append([]*node(nil), d.children...)
		sort.Slice(d.jolKids, func(i, j int) bool { return compareJoliet(d.jolKids[i], d.jolKids[j]) < 0 })
		d.nlink = 2
		for _, c := range d.isoKids {
			if c.isDir {
				d.nlink++
				queue = append(queue, c)
			} else {
				c.nlink = 1
			}
		}
	}
	if len(dirs) > 0xffff {
		return fmt.Errorf("images: %d directories, a path table holds at most 65535", len(dirs))
	}

	// Path table order: by level, then parent number, then identifier.
	// Breadth-first over sorted children yields exactly that, because each
	// level's parents are visited in their own number order.
	p.isoDirs = pathTableOrder(p.root, func(n *node) []*node { return n.isoKids })
	p.jolDirs = pathTableOrder(p.root, func(n *node) []*node { return n.jolKids })
	for i, d := range p.isoDirs {
		d.isoNum = uint16(i + 1)
	}
	for i, d := range p.jolDirs {
		d.jolNum = uint16(i + 1)
	}
	p.isoPTSize = uint32(len(p.pathTable(false, false)))
	p.jolPTSize = uint32(len(p.pathTable(true, false)))

	// Counted in 64 bits so that an absurdly large input is reported, not
	// wrapped around.
	next := uint64(firstFreeSector)
	take := func(n uint32) uint32 { loc := next; next += uint64(n); return uint32(loc) }
	p.isoPTL = take(sectorsFor(int64(p.isoPTSize)))
	p.isoPTM = take(sectorsFor(int64(p.isoPTSize)))
	p.jolPTL = take(sectorsFor(int64(p.jolPTSize)))
	p.jolPTM = take(sectorsFor(int64(p.jolPTSize)))

	// Record lengths do not depend on locations, so extents can be sized
	// before anything is placed.
	for _, d := range p.isoDirs {
		d.isoSize = uint32(len(p.dirExtent(d, false)))
		d.isoLoc = take(d.isoSize / sectorSize)
	}
	for _, d := range p.jolDirs {
		d.jolSize = uint32(len(p.dirExtent(d, true)))
		d.jolLoc = take(d.jolSize / sectorSize)
	}
	p.ceLoc = take(1)

	for _, d := range p.isoDirs {
		for _, c := range d.isoKids {
			if c.isDir {
				continue
			}
			p.files = append(p.files, c)
			if c.size > 0 {
				c.loc = take(sectorsFor(c.size))
			}
		}
	}
	if next > math.MaxUint32 {
		return fmt.Errorf("images: image of %d sectors exceeds the 32-bit volume space size", next)
	}
	p.totalSectors = uint32(next)
	return nil
}

func pathTableOrder(root *node, kids func(*node) []*node) []*node {
	out := []*node{root}
	for i := 0; i < len(out); i++ {
		for _, c := range kids(out[i]) {
			if c.isDir {
				out = append(out, c)
			}
		}
	}
	return out
}
