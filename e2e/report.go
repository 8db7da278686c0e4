package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Report markers written by e2e/base/etcdimg-e2e-report.
const (
	reportBegin = "=== E2E-REPORT BEGIN "
	reportEnd   = "=== E2E-REPORT END ==="
)

// Section is one ">>> name" ... "<<< rc=N" block of a report.
type Section struct {
	Name  string
	Lines []string
	RC    int
}

// Text is the section's output joined with newlines.
func (s Section) Text() string { return strings.Join(s.Lines, "\n") }

// Report is one guest report: what the guest saw once cloud-init finished.
type Report struct {
	Host     string
	Headers  map[string]string
	Sections map[string]*Section
	Raw      string
}

// Header returns an "@@ key value" header.
func (r *Report) Header(key string) string { return r.Headers[key] }

// HeaderInt returns an integer header, or -1.
func (r *Report) HeaderInt(key string) int {
	n, err := strconv.Atoi(strings.TrimSpace(r.Headers[key]))
	if err != nil {
		return -1
	}
	return n
}

// Section returns a section, or an empty one with RC -1 when absent.
func (r *Report) Section(name string) *Section {
	if s, ok := r.Sections[name]; ok {
		return s
	}
	return &Section{Name: name, RC: -1}
}

// SectionNames lists the sections found, sorted.
func (r *Report) SectionNames() []string {
	var n []string
	for k := range r.Sections {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// ParseReports returns every complete report in a serial stream, in order.
// Carriage returns are dropped; text outside the markers is ignored, so a
// console log with kernel and systemd messages around the report parses too.
func ParseReports(data []byte) []*Report {
	var out []*Report
	var cur *Report
	var sec *Section
	var raw strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if i := strings.Index(line, reportBegin); i >= 0 {
			host := strings.TrimSuffix(strings.TrimSpace(line[i+len(reportBegin):]), "===")
			cur = &Report{Host: strings.TrimSpace(host), Headers: map[string]string{}, Sections: map[string]*Section{}}
			sec = nil
			raw.Reset()
			raw.WriteString(line[i:] + "\n")
			continue
		}
		if cur == nil {
			continue
		}
		raw.WriteString(line + "\n")
		switch {
		case strings.Contains(line, reportEnd):
			cur.Raw = raw.String()
			out = append(out, cur)
			cur, sec = nil, nil
		case sec == nil && strings.HasPrefix(line, "@@ "):
			kv := strings.SplitN(strings.TrimPrefix(line, "@@ "), " ", 2)
			if len(kv) == 2 {
				cur.Headers[kv[0]] = kv[1]
			} else {
				cur.Headers[kv[0]] = ""
			}
		case strings.HasPrefix(line, ">>> "):
			sec = &Section{Name: strings.TrimSpace(strings.TrimPrefix(line, ">>> ")), RC: -1}
			cur.Sections[sec.Name] = sec
		case sec != nil && strings.HasPrefix(line, "<<< rc="):
			if n, err := strconv.Atoi(strings.TrimPrefix(line, "<<< rc=")); err == nil {
				sec.RC = n
			}
			sec = nil
		case sec != nil:
			sec.Lines = append(sec.Lines, line)
		}
	}
	return out
}

// String summarises a report for logs.
func (r *Report) String() string {
	return fmt.Sprintf("report from %s (boot %s, uptime %ss, %d sections)", r.Host, r.Header("boots"), r.Header("uptime"), len(r.Sections))
}
