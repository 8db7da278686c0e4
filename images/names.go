package images

import (
	"bytes"
	"sort"
	"strconv"
	"strings"
	"unicode/utf16"
)

// isoName is a level-1 identifier split into its parts; files are recorded
// as base "." ext ";1", directories as base alone.
type isoName struct {
	base, ext string
}

// key is what must be unique in a directory: readers without Rock Ridge strip
// ";1" and a trailing dot, so a file "FOO." and a directory "FOO" would clash.
func (n isoName) key() string {
	if n.ext == "" {
		return n.base
	}
	return n.base + "." + n.ext
}

// mangleISO maps a real name to its natural level-1 name, before any
// collision handling.
func mangleISO(name string, isDir bool) isoName {
	base, ext := name, ""
	if !isDir {
		// A leading dot is part of the name (".bashrc"), not an extension.
		if i := strings.LastIndexByte(name, '.'); i > 0 {
			base, ext = name[:i], name[i+1:]
		}
	}
	return isoName{base: dChars(base, 8), ext: dChars(ext, 3)}
}

// dChars upper-cases s, replaces every rune that is not a d-character
// (A-Z 0-9 _) by "_", and keeps at most max of them.
func dChars(s string, max int) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() == max {
			break
		}
		switch {
		case r >= 'a' && r <= 'z':
			b.WriteRune(r - 'a' + 'A')
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// withCounter gives base a numeric tail while staying within max characters.
func withCounter(base string, k, max int) string {
	s := strconv.Itoa(k)
	if len(base)+len(s) > max {
		base = base[:max-len(s)]
	}
	return base + s
}

// byRealName returns the children in byte order of their real names: the
// order that decides who keeps a contested name, independent of input order.
func byRealName(children []*node) []*node {
	s := append([]*node(nil), children...)
	sort.Slice(s, func(i, j int) bool { return s[i].name < s[j].name })
	return s
}

// assignISONames gives every child of dir a unique level-1 name. Entries
// whose natural name is free keep it; the others, in real-name order, take
// the first free numeric tail. Doing the natural names first means a renamed
// entry never takes the name another entry would have had on its own.
func assignISONames(dir *node) {
	kids := byRealName(dir.children)
	used := make(map[string]bool, len(kids))
	var clashed []*node
	for _, c := range kids {
		c.iso = mangleISO(c.name, c.isDir)
		if used[c.iso.key()] {
			clashed = append(clashed, c)
			continue
		}
		used[c.iso.key()] = true
	}
	// Counters resume per natural name, so a folder of many look-alike
	// names costs linear, not quadratic, time.
	next := make(map[string]int)
	for _, c := range clashed {
		natural := c.iso.key()
		for k := next[natural] + 1; ; k++ {
			cand := isoName{base: withCounter(c.iso.base, k, 8), ext: c.iso.ext}
			if !used[cand.key()] {
				c.iso = cand
				used[cand.key()] = true
				next[natural] = k
				break
			}
		}
	}
}

// isoIdentifier is the recorded file identifier.
func (n *node) isoIdentifier() []byte {
	if n.isDir {
		return []byte(n.iso.base)
	}
	return []byte(n.iso.base + "." + n.iso.ext + ";1")
}

// jolietUnits converts a name to UCS-2, replacing what Joliet forbids
// (control characters, * / : ; ? \) and what UCS-2 cannot hold (runes
// outside the BMP) by "_".
func jolietUnits(name string) []uint16 {
	u := make([]uint16, 0, len(name))
	for _, r := range name {
		switch {
		case r < 0x20, r == '*', r == '/', r == ':', r == ';', r == '?', r == '\\', r > 0xffff,
			r >= 0xd800 && r <= 0xdfff:
			r = '_'
		}
		u = append(u, uint16(r))
	}
	return u
}

// jolietExtMax is the longest extension kept whole when a Joliet name is
// truncated; a longer "extension" is just a dotted name and is cut like one.
const jolietExtMax = 16

// splitUnits splits a file name at its last dot (not a leading one).
func splitUnits(u []uint16, isDir bool) (base, ext []uint16) {
	if isDir {
		return u, nil
	}
	for i := len(u) - 1; i > 0; i-- {
		if u[i] == '.' {
			return u[:i], u[i:]
		}
	}
	return u, nil
}

// jolietFit cuts base so that base+tail+ext fits the Joliet limit, keeping ext
// whole when it is short enough.
func jolietFit(base, ext []uint16, tail string) []uint16 {
	if len(ext) > jolietExtMax {
		base, ext = append(append([]uint16(nil), base...), ext...), nil
	}
	t := utf16.Encode([]rune(tail))
	room := jolietMaxName - len(ext) - len(t)
	if len(base) > room {
		base = base[:room]
	}
	out := append([]uint16(nil), base...)
	out = append(out, t...)
	return append(out, ext...)
}

// assignJolietNames gives every child of dir a unique Joliet name. Real names
// are unique already; only truncation or replaced characters can make two
// equal, and those are resolved like ISO names, with a "~N" tail.
func assignJolietNames(dir *node) {
	kids := byRealName(dir.children)
	used := make(map[string]bool, len(kids))
	var clashed []*node
	for _, c := range kids {
		u := jolietUnits(c.name)
		if len(u) > jolietMaxName {
			b, e := splitUnits(u, c.isDir)
			u = jolietFit(b, e, "")
		}
		c.joliet = u
		k := string(utf16.Decode(u))
		if used[k] {
			clashed = append(clashed, c)
			continue
		}
		used[k] = true
	}
	next := make(map[string]int)
	for _, c := range clashed {
		natural := string(utf16.Decode(c.joliet))
		b, e := splitUnits(jolietUnits(c.name), c.isDir)
		for k := next[natural] + 1; ; k++ {
			u := jolietFit(b, e, "~"+strconv.Itoa(k))
			if s := string(utf16.Decode(u)); !used[s] {
				c.joliet = u
				used[s] = true
				next[natural] = k
				break
			}
		}
	}
}

// jolietIdentifier is the recorded UCS-2 BE identifier. Like mkisofs, no
// ";1" is appended: Joliet readers show names as recorded.
func (n *node) jolietIdentifier() []byte {
	b := make([]byte, 2*len(n.joliet))
	for i, c := range n.joliet {
		b[2*i], b[2*i+1] = byte(c>>8), byte(c)
	}
	return b
}

// compareISO orders identifiers as ECMA-119 9.3 asks: names, then extensions,
// each as if padded with spaces. All d-characters sort above the space, so a
// plain byte comparison of each part is the same thing.
func compareISO(a, b *node) int {
	if c := strings.Compare(a.iso.base, b.iso.base); c != 0 {
		return c
	}
	return strings.Compare(a.iso.ext, b.iso.ext)
}

// compareJoliet applies the same rule to UCS-2 names; here a name may contain
// characters that sort below the space padding, so the padding is explicit,
// and ties left by padding fall back to the plain order to stay total.
func compareJoliet(a, b *node) int {
	ab, ae := splitUnits(a.joliet, a.isDir)
	bb, be := splitUnits(b.joliet, b.isDir)
	if c := padCompare(ab, bb); c != 0 {
		return c
	}
	if c := padCompare(ae, be); c != 0 {
		return c
	}
	return bytes.Compare(a.jolietIdentifier(), b.jolietIdentifier())
}

func padCompare(a, b []uint16) int {
	for i := 0; i < len(a) || i < len(b); i++ {
		x, y := uint16(' '), uint16(' ')
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}
