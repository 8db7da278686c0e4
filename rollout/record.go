package rollout

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/etcdimg/etcdimg/internal/durable"
)

// RecordFile, beside cluster.json, remembers which seed (by its cloud-init
// instance-id) each node was last booted with by a rollout. A rebuild that
// changes what a node applies gives its seed a new instance-id, so "the
// recorded instance-id differs from cluster.json's" is exactly "this node
// has not received its current seed", and a re-run after a failure picks up
// where the last one stopped.
const RecordFile = "rollout.json"

// recordSchema is the version of RecordFile; a reader refuses another.
const recordSchema = 1

// Record is RecordFile.
type Record struct {
	SchemaVersion int                  `json:"schemaVersion"`
	Nodes         map[string]Delivered `json:"nodes"`
}

// Delivered is one node's last delivery.
type Delivered struct {
	InstanceID  string    `json:"instanceID"`
	EtcdVersion string    `json:"etcdVersion,omitempty"`
	At          time.Time `json:"deliveredAt"`
}

// ReadRecord reads DIR/rollout.json; a missing file is an empty record
// (nothing delivered yet: every node counts as changed).
func ReadRecord(dir string) (*Record, error) {
	p := filepath.Join(dir, RecordFile)
	r := &Record{SchemaVersion: recordSchema, Nodes: map[string]Delivered{}}
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return r, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, r); err != nil {
		return nil, fmt.Errorf("%s: %w; remove it to deliver every node again", p, err)
	}
	if r.SchemaVersion != recordSchema {
		return nil, fmt.Errorf("%s: schemaVersion %d is not understood by this etcdimg (it reads %d)", p, r.SchemaVersion, recordSchema)
	}
	if r.Nodes == nil {
		r.Nodes = map[string]Delivered{}
	}
	return r, nil
}

func (r *Record) write(dir string) error {
	r.SchemaVersion = recordSchema
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return durable.WriteFile(filepath.Join(dir, RecordFile), append(b, '\n'), 0o644)
}
