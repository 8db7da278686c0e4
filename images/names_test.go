package images

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestMangleISO(t *testing.T) {
	cases := []struct {
		name  string
		isDir bool
		want  string // as recorded
	}{
		{"user-data", false, "USER_DAT.;1"},
		{"meta-data", false, "META_DAT.;1"},
		{"network-config", false, "NETWORK_.;1"},
		{"etcd-v3.6.16-linux-amd64.tar.gz", false, "ETCD_V3_.GZ;1"},
		{"server.key", false, "SERVER.KEY;1"},
		{".hidden", false, "_HIDDEN.;1"},
		{"multi.dot.name.tar.gz", false, "MULTI_DO.GZ;1"},
		{"café au lait.txt", false, "CAF__AU_.TXT;1"},
		{"a.verylongext", false, "A.VER;1"},
		{"trailing.", false, "TRAILING.;1"},
		{"pki", true, "PKI"},
		{"my.dir.d", true, "MY_DIR_D"},
		{"Very-Long-Directory", true, "VERY_LON"},
	}
	for _, c := range cases {
		n := &node{name: c.name, isDir: c.isDir, iso: mangleISO(c.name, c.isDir)}
		if got := string(n.isoIdentifier()); got != c.want {
			t.Errorf("%q: %q, want %q", c.name, got, c.want)
		}
	}
}

// isoNamesOf runs the collision handling on a directory of the given names
// (a trailing "/" marks a directory) and returns real name -> identifier.
func isoNamesOf(names []string) map[string]string {
	d := &node{isDir: true}
	for _, n := range names {
		name, isDir := strings.CutSuffix(n, "/")
		d.children = append(d.children, &node{name: name, isDir: isDir})
	}
	assignISONames(d)
	out := map[string]string{}
	for _, c := range d.children {
		out[c.name] = string(c.isoIdentifier())
	}
	return out
}

func TestISOCollisions(t *testing.T) {
	cases := []struct {
		names []string
		want  map[string]string
	}{
		{
			// Byte order of real names decides: upper case sorts first.
			[]string{"readme.md", "Readme.md", "README.md"},
			map[string]string{"README.md": "README.MD;1", "Readme.md": "README1.MD;1", "readme.md": "README2.MD;1"},
		},
		{
			// A natural name is never taken by a renamed one, even when the
			// renamed one comes first.
			[]string{"ab-c.txt", "ab_c.txt", "AB_C1.txt"},
			map[string]string{"AB_C1.txt": "AB_C1.TXT;1", "ab-c.txt": "AB_C.TXT;1", "ab_c.txt": "AB_C2.TXT;1"},
		},
		{
			// A file without extension and a directory share a name once
			// ";1" and the dot are stripped.
			[]string{"sub/", "SUB"},
			map[string]string{"SUB": "SUB.;1", "sub": "SUB1"},
		},
		{
			// The counter replaces the tail when the name is full.
			[]string{"verylongname-a", "verylongname-b", "verylongname-c"},
			map[string]string{"verylongname-a": "VERYLONG.;1", "verylongname-b": "VERYLON1.;1", "verylongname-c": "VERYLON2.;1"},
		},
	}
	for _, c := range cases {
		for _, order := range [][]string{c.names, reversed(c.names)} {
			if got := isoNamesOf(order); fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("%q: %v, want %v", order, got, c.want)
			}
		}
	}

	// Many look-alikes: all distinct, level-1, and two-digit counters fit.
	var many []string
	for i := range 150 {
		many = append(many, fmt.Sprintf("member-%03d.conf", i))
	}
	got := isoNamesOf(many)
	seen := map[string]bool{}
	for _, id := range got {
		if seen[id] || !isoFileID.MatchString(id) {
			t.Errorf("identifier %q repeated or not level-1", id)
		}
		seen[id] = true
	}
	if got["member-000.conf"] != "MEMBER_0.CON;1" || got["member-149.conf"] != "MEMBE149.CON;1" {
		t.Errorf("unexpected look-alike names: %q %q", got["member-000.conf"], got["member-149.conf"])
	}
}

func reversed(s []string) []string {
	r := slices.Clone(s)
	slices.Reverse(r)
	return r
}

func jolietNamesOf(names []string) map[string]string {
	d := &node{isDir: true}
	for _, n := range names {
		name, isDir := strings.CutSuffix(n, "/")
		d.children = append(d.children, &node{name: name, isDir: isDir})
	}
	assignJolietNames(d)
	out := map[string]string{}
	for _, c := range d.children {
		out[c.name] = decodeUCS2(c.jolietIdentifier())
	}
	return out
}

func TestJolietNames(t *testing.T) {
	long := strings.Repeat("x", 70)
	longExt := strings.Repeat("y", 60) + ".averyveryverylongextension"
	cases := []struct {
		names []string
		want  map[string]string
	}{
		{
			[]string{"user-data", "pki/", "café au lait.txt"},
			map[string]string{"user-data": "user-data", "pki": "pki", "café au lait.txt": "café au lait.txt"},
		},
		{
			// Over 64 characters: cut, keeping a short extension; a clash
			// after cutting gets ~N.
			[]string{long + "-1.yaml", long + "-2.yaml"},
			map[string]string{long + "-1.yaml": strings.Repeat("x", 59) + ".yaml", long + "-2.yaml": strings.Repeat("x", 57) + "~1.yaml"},
		},
		{
			// A long "extension" is just part of the name.
			[]string{longExt},
			map[string]string{longExt: longExt[:64]},
		},
		{
			// Directories are cut plainly.
			[]string{long + ".d/"},
			map[string]string{long + ".d": long[:64]},
		},
		{
			// Characters Joliet forbids become _, and clash resolution follows.
			[]string{"a:b", "a*b", "semi;colon", "emoji-\U0001F600"},
			map[string]string{"a*b": "a_b", "a:b": "a_b~1", "semi;colon": "semi_colon", "emoji-\U0001F600": "emoji-_"},
		},
	}
	for _, c := range cases {
		for _, order := range [][]string{c.names, reversed(c.names)} {
			if got := jolietNamesOf(order); fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("%q:\n got %v\nwant %v", order, got, c.want)
			}
		}
	}
}
