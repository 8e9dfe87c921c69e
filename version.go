package main

import (
	"os"
	"runtime/debug"
)

// buildVersion is set with -ldflags "-X main.buildVersion=…" by a release build.
var buildVersion = ""

// version is the release version: from -ldflags, from the image (its
// build stage runs no shell, so the Dockerfile bakes WHALEWATCH_VERSION and
// WHALEWATCH_REVISION in), or what Go recorded in the binary.
func version() string {
	if buildVersion != "" {
		return buildVersion
	}
	if v := os.Getenv("WHALEWATCH_VERSION"); v != "" {
		if r := os.Getenv("WHALEWATCH_REVISION"); r != "" && r != "unknown" {
			v += " (" + r + ")"
		}
		return v
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := info.Main.Version
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += " (" + s.Value[:12] + ")"
		}
	}
	return v
}
