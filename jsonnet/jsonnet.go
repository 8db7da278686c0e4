// Package jsonnet evaluates cluster specs written in Jsonnet.
//
// It follows the jsonnet CLI's conventions (-J library paths, external
// variables, top-level arguments) so that specs written for the CLI evaluate
// the same here, and it serves the bundled etcdimg.libsonnet from memory so a
// spec works without any files beside it: the library is versioned with the
// binary that understands its output.
package jsonnet

import (
	"embed"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	gojsonnet "github.com/google/go-jsonnet"

	"github.com/etcdimg/etcdimg/spec"

	"github.com/etcdimg/etcdimg/internal/inputfile"
)

//go:embed lib/*.libsonnet
var libFS embed.FS

// LibraryName is the import path that resolves to the bundled library.
const LibraryName = "etcdimg.libsonnet"

// Options mirror the jsonnet CLI's flags.
type Options struct {
	// JPath are the library folders searched after the importing file's
	// folder, from the last to the first, as go-jsonnet and the jsonnet CLI
	// do (the right-most -J wins).
	JPath   []string
	ExtStr  map[string]string // --ext-str
	ExtCode map[string]string // --ext-code
	TLAStr  map[string]string // --tla-str
	TLACode map[string]string // --tla-code
	// Stdin is read when the spec's path is Stdin ("-"); nil means
	// os.Stdin.
	Stdin io.Reader
}

// Stdin as a spec's path reads the spec from standard input, as the jsonnet
// CLI does; messages name it StdinName. Relative imports and the spec's
// relative paths then resolve from the working folder.
const (
	Stdin     = "-"
	StdinName = "<stdin>"
)

// ImportCode is Jsonnet code importing the file at path: what the jsonnet
// CLI's --ext-code-file and --tla-code-file pass, so the file's own
// relative imports resolve beside it and its errors name it.
func ImportCode(path string) string {
	// A verbatim string: no escapes but '' for a quote.
	return "import @'" + strings.ReplaceAll(path, "'", "''") + "'"
}

// Library returns the bundled library source.
func Library() []byte {
	b, err := libFS.ReadFile("lib/" + LibraryName)
	if err != nil {
		panic(err) // embedded at build time; absence is a build bug
	}
	return b
}

// importer serves the bundled library from memory and everything else from
// disk, so a spec's own relative imports keep working.
type importer struct {
	files    *gojsonnet.FileImporter
	lib      gojsonnet.Contents
	defaults gojsonnet.Contents
}

// defaultsName is imported by the bundled library; its content is generated
// from spec.Defaults so Jsonnet and Go can never disagree about a default.
const defaultsName = "etcdimg-defaults.json"

func defaultsContents() gojsonnet.Contents {
	b, err := json.MarshalIndent(spec.DefaultsJSON(), "", "  ")
	if err != nil {
		panic(err)
	}
	return gojsonnet.MakeContentsRaw(b)
}

func (i *importer) Import(importedFrom, importedPath string) (gojsonnet.Contents, string, error) {
	switch importedPath {
	case LibraryName:
		return i.lib, "<bundled>/" + LibraryName, nil
	case defaultsName:
		return i.defaults, "<bundled>/" + defaultsName, nil
	}
	return i.files.Import(importedFrom, importedPath)
}

func newVM(opts Options) *gojsonnet.VM {
	vm := gojsonnet.MakeVM()
	vm.Importer(&importer{
		files:    &gojsonnet.FileImporter{JPaths: opts.JPath},
		lib:      gojsonnet.MakeContentsRaw(Library()),
		defaults: defaultsContents(),
	})
	for k, v := range opts.ExtStr {
		vm.ExtVar(k, v)
	}
	for k, v := range opts.ExtCode {
		vm.ExtCode(k, v)
	}
	for k, v := range opts.TLAStr {
		vm.TLAVar(k, v)
	}
	for k, v := range opts.TLACode {
		vm.TLACode(k, v)
	}
	return vm
}

// EvaluateFile evaluates the spec at path and returns its JSON. Jsonnet
// errors come back as go-jsonnet formats them, with file:line:column.
func EvaluateFile(path string, opts Options) ([]byte, error) {
	if path == Stdin {
		src, err := readStdin(opts.Stdin)
		if err != nil {
			return nil, fmt.Errorf("read spec: %w", err)
		}
		return EvaluateSnippet(StdinName, src, opts)
	}
	// A regular file of sane size only: `validate /dev/zero` would read
	// until memory runs out, and a FIFO would hang.
	if err := inputfile.Stat(path, inputfile.MaxSpec); err != nil {
		return nil, fmt.Errorf("read spec: %w", err)
	}
	// Through the importer, not as a snippet: only then do the spec's own
	// relative imports resolve beside it rather than in the working folder.
	out, err := newVM(opts).EvaluateFile(filepath.Clean(path))
	if err != nil {
		return nil, err
	}
	return []byte(out), nil
}

// readStdin reads a spec from r (os.Stdin when nil) up to the bound a spec
// file has: an endless pipe must not exhaust memory either.
func readStdin(r io.Reader) (string, error) {
	if r == nil {
		r = os.Stdin
	}
	b, err := io.ReadAll(io.LimitReader(r, inputfile.MaxSpec+1))
	if err != nil {
		return "", &fs.PathError{Op: "read", Path: StdinName, Err: err}
	}
	if len(b) > inputfile.MaxSpec {
		return "", &fs.PathError{Op: "read", Path: StdinName, Err: fmt.Errorf("is more than the %d bytes this input may have", inputfile.MaxSpec)}
	}
	return string(b), nil
}

// EvaluateSnippet evaluates src; path only names it in error messages, and
// relative imports resolve from the working folder and JPath.
func EvaluateSnippet(path, src string, opts Options) ([]byte, error) {
	vm := newVM(opts)
	out, err := vm.EvaluateAnonymousSnippet(filepath.Clean(path), src)
	if err != nil {
		return nil, err
	}
	return []byte(out), nil
}
