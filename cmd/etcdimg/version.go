package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
)

// version, when set with -ldflags "-X main.version=…" (the Makefile sets
// `git describe`), names the build in the first line. Without it, the
// module version Go recorded says what this is: v0.x.y for
// `go install …@v0.x.y`, a pseudo-version (+dirty) for `go build` in a
// checkout, (devel) where Go knew none.
var version = ""

func cmdVersion(args []string, stdout, stderr io.Writer) int {
	if code, ok := parseArgs(newFlagSet("version", ""), args, 0, stdout, stderr); !ok {
		return code
	}
	bi, _ := debug.ReadBuildInfo()
	fmt.Fprint(stdout, versionText(bi, version))
	return exitOK
}

// versionText is what `etcdimg version` prints from the build info bi
// (nil when the binary has none) and the -ldflags version override.
func versionText(bi *debug.BuildInfo, override string) string {
	var b strings.Builder
	v := override
	var module, modVersion, goVersion string
	settings := map[string]string{}
	if bi != nil {
		module, modVersion, goVersion = bi.Main.Path, bi.Main.Version, bi.GoVersion
		for _, s := range bi.Settings {
			settings[s.Key] = s.Value
		}
	}
	if v == "" {
		v = modVersion
	}
	if v == "" {
		v = "(devel)"
	}
	fmt.Fprintf(&b, "etcdimg %s\n", v)
	if module != "" {
		fmt.Fprintf(&b, "  module    %s %s\n", module, dashIfEmpty(modVersion))
	}
	if rev := settings["vcs.revision"]; rev != "" {
		if settings["vcs.modified"] == "true" {
			rev += " (modified)"
		}
		fmt.Fprintf(&b, "  revision  %s\n", rev)
	}
	if t := settings["vcs.time"]; t != "" {
		fmt.Fprintf(&b, "  committed %s\n", t)
	}
	if goVersion == "" {
		goVersion = runtime.Version()
	}
	fmt.Fprintf(&b, "  go        %s %s/%s\n", goVersion, runtime.GOOS, runtime.GOARCH)
	return b.String()
}

func dashIfEmpty(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
