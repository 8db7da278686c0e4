package pipeline_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/etcdimg/etcdimg/generator"
	"github.com/etcdimg/etcdimg/internal/specfixtures"
	"github.com/etcdimg/etcdimg/internal/testrelease"
	"github.com/etcdimg/etcdimg/jsonnet"
	"github.com/etcdimg/etcdimg/pipeline"
)

var releaseVersionRE = regexp.MustCompile(`^v?(3\.[0-9]+\.[0-9]+)$`)

// TestValidateRenderBuildAgree is the property the model exists for, over
// every spec of the repository and the FuzzSpec corpus: `validate` succeeds
// exactly when rendering succeeds and exactly when `build` gets past the
// spec; when validate fails, build writes nothing at all.
//
// Each spec's release is pointed at a release-shaped test tarball of its
// version (when it has a usable one), so what build checks beyond the spec
// passes and only the spec decides.
func TestValidateRenderBuildAgree(t *testing.T) {
	tmp := t.TempDir()
	fixtures, err := specfixtures.Jsonnet(filepath.Join(tmp, "scripts"))
	if err != nil {
		t.Fatal(err)
	}
	corpus, err := specfixtures.Corpus()
	if err != nil {
		t.Fatal(err)
	}
	fixtures = append(fixtures, corpus...)
	releases := map[string][2]string{}
	valid, invalid := 0, 0
	for i, fx := range fixtures {
		t.Run(strings.ReplaceAll(fx.Name, "/", "_"), func(t *testing.T) {
			dir := filepath.Join(tmp, "case", strconv.Itoa(i))
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			data := fx.JSON
			var raw map[string]any
			if json.Unmarshal(data, &raw) == nil {
				if e, ok := raw["etcd"].(map[string]any); ok {
					if v, ok := e["version"].(string); ok {
						if m := releaseVersionRE.FindStringSubmatch(v); m != nil {
							// The release of the spec's arch, when it names one
							// etcdimg knows (any other is an error either way).
							arch, _ := e["arch"].(string)
							if arch != "arm64" {
								arch = "amd64"
							}
							rel, ok := releases[m[1]+"-"+arch]
							if !ok {
								p, sha := testrelease.WriteArch(t, tmp, m[1], arch, 0)
								rel = [2]string{p, sha}
								releases[m[1]+"-"+arch] = rel
							}
							e["release"] = map[string]any{"path": rel[0], "sha256": rel[1]}
							if data, err = json.Marshal(raw); err != nil {
								t.Fatal(err)
							}
						}
					}
				}
			}
			specPath := filepath.Join(dir, "spec.jsonnet")
			if err := os.WriteFile(specPath, data, 0o644); err != nil {
				t.Fatal(err)
			}
			l, err := pipeline.Load(specPath, jsonnet.Options{})
			if err != nil {
				t.Skipf("not a spec: %v", err)
			}
			validated := !l.Report.IsFatal()
			if validated {
				valid++
				if _, err := generator.Render(l.Cluster); err != nil {
					t.Fatalf("validate passed, render failed: %v", err)
				}
			} else {
				invalid++
			}

			out := filepath.Join(dir, "out")
			pkiDir := filepath.Join(dir, "pki")
			res, err := pipeline.Build(context.Background(), pipeline.Options{
				Spec: specPath, OutDir: out, PKIDir: pkiDir, CacheDir: filepath.Join(tmp, "cache"),
				Epoch: time.Unix(1700000000, 0),
			})
			if err != nil {
				t.Fatalf("build: %v", err)
			}
			if built := !res.Report.IsFatal(); built != validated {
				t.Fatalf("validate %v, build %v:\nvalidate:\n%s\nbuild:\n%s", validated, built, l.Report, res.Report)
			}
			if validated {
				for _, n := range res.Nodes {
					if _, err := os.Stat(n.ISO); err != nil {
						t.Errorf("%s: %v", n.Name, err)
					}
				}
				return
			}
			for _, p := range []string{out, pkiDir} {
				if _, err := os.Lstat(p); !os.IsNotExist(err) {
					t.Errorf("validate failed, yet build wrote %s", p)
				}
			}
		})
	}
	t.Logf("%d specs valid, %d invalid", valid, invalid)
	if valid < 10 || invalid < 5 {
		t.Errorf("too few cases on one side: %d valid, %d invalid", valid, invalid)
	}
}
