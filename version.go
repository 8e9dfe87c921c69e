package main

import "runtime/debug"

// buildVersion is set with -ldflags "-X main.buildVersion=…" by the image build.
var buildVersion = ""

// version is the release version, or the module version and VCS revision
// that Go recorded in the binary.
func version() string {
	if buildVersion != "" {
		return buildVersion
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
