package pki

import (
	"fmt"
	"net"
	"path/filepath"
	"testing"
)

func fiveNodes() []Node {
	var nodes []Node
	for i := 1; i <= 5; i++ {
		nodes = append(nodes, Node{
			Name: fmt.Sprintf("k8s%02d", i),
			FQDN: fmt.Sprintf("k8s%02d.virtual.local", i),
			IPs:  []net.IP{net.IPv4(192, 0, 2, byte(10+i))},
		})
	}
	return nodes
}

// BenchmarkEnsure5Nodes measures a first run for a 5-node cluster: one CA and
// 16 leaves (admin + 3 per node), with the real clock and crypto/rand as in
// production.
func BenchmarkEnsure5Nodes(b *testing.B) {
	for _, alg := range []string{AlgECDSAP256, AlgRSA2048} {
		b.Run(alg, func(b *testing.B) {
			root := b.TempDir()
			i := 0
			for b.Loop() {
				i++
				cfg := Config{Dir: filepath.Join(root, fmt.Sprint(i)), Cluster: "bench", Nodes: fiveNodes()}
				cfg.CA.Algorithm, cfg.LeafAlgorithm = alg, alg
				if _, err := Ensure(cfg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	// The common case after the first run: everything is reused.
	b.Run("reuse", func(b *testing.B) {
		cfg := Config{Dir: filepath.Join(b.TempDir(), "pki"), Cluster: "bench", Nodes: fiveNodes()}
		if _, err := Ensure(cfg); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := Ensure(cfg); err != nil {
				b.Fatal(err)
			}
		}
	})
}
