// Package pkitest makes pki.Ensure reproducible in tests: with Now fixed and
// Rand from NewRand, an ECDSA PKI comes out byte-for-byte identical on every
// run (see the determinism section of package pki), so golden files that
// embed certificates need no committed keys.
//
// Never use it outside tests: the stream is predictable by design.
package pkitest

import (
	"crypto/sha256"
	"encoding/binary"
	"io"
	"time"
)

// Now is a fixed instant for tests; certificates issued at it are valid from
// an hour before (the default backdate) for a year.
var Now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// Clock returns a pki.Config.Now that always answers t.
func Clock(t time.Time) func() time.Time { return func() time.Time { return t } }

// NewRand returns a deterministic stream: SHA-256 over (seed, counter). It is
// not safe for concurrent use, which pki does not need.
func NewRand(seed uint64) io.Reader { return &stream{seed: seed} }

type stream struct {
	seed, ctr uint64
	buf       []byte
}

func (r *stream) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(r.buf) == 0 {
			var in [16]byte
			binary.BigEndian.PutUint64(in[:8], r.seed)
			binary.BigEndian.PutUint64(in[8:], r.ctr)
			r.ctr++
			h := sha256.Sum256(in[:])
			r.buf = h[:]
		}
		c := copy(p[n:], r.buf)
		r.buf = r.buf[c:]
		n += c
	}
	return n, nil
}
