// Package snapshot saves etcd snapshots from a running cluster and checks
// snapshot files the way etcd's own tools do.
//
// The check is etcd's: a snapshot from the Maintenance.Snapshot API is the
// member's bbolt database followed by the sha256 of that database (etcd
// appends it so that a truncated or altered copy is detected). `etcdutl
// snapshot restore` refuses a file whose digest does not match, and
// `etcdutl snapshot status` runs bbolt's consistency check over every page
// and counts revisions and keys. Verify does both. It is reimplemented here
// on bbolt and etcd's mvccpb rather than imported from
// go.etcd.io/etcd/etcdutl/v3/snapshot, because that package links all of
// etcd's server (raft, WAL, membership, storage backends) into etcdimg for
// about forty lines of logic; the tests pin the result to what the real
// etcdutl from the release tarball prints for the same file.
package snapshot

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// Info describes a verified snapshot file.
type Info struct {
	Path string `json:"path"`
	// Revision is the newest revision in the keyspace.
	Revision int64 `json:"revision"`
	// Hash is etcdutl snapshot status's hash: crc32 (Castagnoli) over every
	// bucket name, key and value, in order.
	Hash uint32 `json:"hash"`
	// TotalKeys counts live keys (a deleted key does not count).
	TotalKeys int `json:"totalKeys"`
	// Size is the bbolt database size (etcdutl's totalSize); FileSize is
	// the file on disk, with the 32-byte digest.
	Size     int64 `json:"size"`
	FileSize int64 `json:"fileSize"`
	// SHA256 is the digest etcd appended, in hex.
	SHA256 string `json:"sha256"`
	// StorageVersion is the storage version the member wrote (etcd ≥ 3.6),
	// e.g. "3.6.0"; empty for an older member.
	StorageVersion string `json:"storageVersion,omitempty"`
}

// ErrIntegrity marks a file that is not an intact etcd snapshot.
var ErrIntegrity = errors.New("snapshot integrity check failed")

// hasDigest says whether a file of n bytes ends with etcd's sha256: bbolt
// files are whole pages, and etcd picked 512 (the smallest sector size, a
// divisor of every page size) to tell the 32 extra bytes apart, exactly as
// etcdutl does.
func hasDigest(n int64) bool { return n%512 == sha256.Size }

// Verify checks that path is an intact snapshot as etcd wrote it (its
// appended sha256 matches the database, and bbolt finds every page
// consistent) and reads its revision, hash and key count. It never writes
// to the file.
func Verify(path string) (Info, error) {
	info := Info{Path: path}
	f, err := os.Open(path)
	if err != nil {
		return info, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return info, err
	}
	if !fi.Mode().IsRegular() {
		return info, fmt.Errorf("%s: not a regular file", path)
	}
	info.FileSize = fi.Size()
	if !hasDigest(info.FileSize) {
		return info, fmt.Errorf("%s: %w: %d bytes is not a database plus etcd's 32-byte sha256 (truncated, or not saved through etcd's snapshot API)", path, ErrIntegrity, info.FileSize)
	}
	dbSize := info.FileSize - sha256.Size
	h := sha256.New()
	if _, err := io.CopyN(h, f, dbSize); err != nil {
		return info, fmt.Errorf("%s: %w", path, err)
	}
	want := make([]byte, sha256.Size)
	if _, err := io.ReadFull(f, want); err != nil {
		return info, fmt.Errorf("%s: %w", path, err)
	}
	if got := h.Sum(nil); !bytes.Equal(got, want) {
		return info, fmt.Errorf("%s: %w: sha256 of the database is %x, etcd recorded %x", path, ErrIntegrity, got, want)
	}
	info.SHA256 = hex.EncodeToString(want)
	if err := status(path, &info); err != nil {
		return info, fmt.Errorf("%s: %w", path, err)
	}
	return info, nil
}

// status is etcdutl's `snapshot status`: bbolt's page check, then one pass
// over every bucket for the hash, and over the key bucket for revision and
// live keys.
func status(path string, info *Info) error {
	// Read-only opens the file O_RDONLY under a shared lock; the timeout
	// keeps a file some etcd holds locked from hanging us.
	db, err := bolt.Open(path, 0o400, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		return fmt.Errorf("%w: bbolt: %v", ErrIntegrity, err)
	}
	defer db.Close()
	crc := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	live := map[string]struct{}{}
	return db.View(func(tx *bolt.Tx) error {
		var problems []string
		for e := range tx.Check() {
			problems = append(problems, e.Error())
		}
		if len(problems) > 0 {
			return fmt.Errorf("%w: bbolt found %d errors: %s", ErrIntegrity, len(problems), strings.Join(problems, "; "))
		}
		info.Size = tx.Size()
		if meta := tx.Bucket([]byte("meta")); meta != nil {
			info.StorageVersion = string(meta.Get([]byte("storageVersion")))
		}
		c := tx.Cursor()
		for name, _ := c.First(); name != nil; name, _ = c.Next() {
			b := tx.Bucket(name)
			if b == nil {
				return fmt.Errorf("%w: nil bucket %q", ErrIntegrity, name)
			}
			crc.Write(name)
			isKey := string(name) == "key"
			if err := b.ForEach(func(k, v []byte) error {
				crc.Write(k)
				crc.Write(v)
				if !isKey {
					return nil
				}
				// A revision key: 8-byte main revision, '_', 8-byte
				// sub revision, and a trailing 't' on a tombstone.
				if len(k) != 17 && len(k) != 18 {
					return fmt.Errorf("%w: key bucket: revision key of %d bytes", ErrIntegrity, len(k))
				}
				info.Revision = int64(binary.BigEndian.Uint64(k[:8]))
				var kv mvccpb.KeyValue
				if err := kv.Unmarshal(v); err != nil {
					return fmt.Errorf("%w: key bucket: revision %d: %v", ErrIntegrity, info.Revision, err)
				}
				if len(k) == 18 && k[17] == 't' {
					delete(live, string(kv.Key))
				} else {
					live[string(kv.Key)] = struct{}{}
				}
				return nil
			}); err != nil {
				return err
			}
		}
		info.TotalKeys = len(live)
		info.Hash = crc.Sum32()
		return nil
	})
}
