package config

import (
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// variables lists every variable the program reads, from the env tags;
// DEST_, RULE_ and DOCKER_ groups appear with <NAME> as their name.
func variables() []string {
	var out []string
	collect := func(v any, prefix string) {
		t := reflect.TypeOf(v)
		for i := range t.NumField() {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("env"), ",")
			if name != "" && name != "-" {
				out = append(out, prefix+name)
			}
		}
	}
	for _, s := range sections(&Config{}) {
		collect(s.Interface(), "")
	}
	collect(destEnv{}, "DEST_<NAME>_")
	collect(ruleEnv{}, "RULE_<NAME>_")
	return append(out, "DOCKER_<NAME>_CERT_PATH") // read by loadCertPaths
}

// the dynamic groups of variables, by their <NAME> prefix
var groups = map[string]*regexp.Regexp{
	"DEST_<NAME>_":   regexp.MustCompile(`^DEST_[A-Z0-9_]+?_`),
	"RULE_<NAME>_":   regexp.MustCompile(`^RULE_[A-Z0-9_]+?_`),
	"DOCKER_<NAME>_": regexp.MustCompile(`^DOCKER_[A-Z0-9_]+?_`),
}

// documented reads the variables config.example.env names (commented or not).
func documented(t *testing.T) map[string]bool {
	b, err := os.ReadFile("../config.example.env")
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^#? ?([A-Z][A-Z0-9_]*)=`).FindAllStringSubmatch(string(b), -1) {
		vars[m[1]] = true
	}
	return vars
}

// Every variable the program reads is in config.example.env and the
// README's table, and config.example.env names nothing the program ignores.
func TestDocsListEveryVariable(t *testing.T) {
	doc := documented(t)
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	known := variables()
	for _, v := range known {
		found := doc[v]
		for prefix, re := range groups {
			if rest, ok := strings.CutPrefix(v, prefix); ok {
				for d := range doc {
					if re.MatchString(d) && strings.HasSuffix(d, "_"+rest) {
						found = true
					}
				}
			}
		}
		if !found {
			t.Errorf("%s is read by the program but not in config.example.env", v)
		}
		// The README writes secrets as "WEBHOOK_URL (_FILE)".
		short := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(v, "DEST_<NAME>"), "RULE_<NAME>"), "_FILE")
		if !strings.Contains(string(readme), short) {
			t.Errorf("%s is not in the README", v)
		}
	}
	docker := []string{"DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"} // read by the Docker SDK
	for d := range doc {
		ok := slices.Contains(known, d) || slices.Contains(docker, d)
		for prefix, re := range groups {
			if re.MatchString(d) {
				for _, v := range known {
					if rest, has := strings.CutPrefix(v, prefix); has && strings.HasSuffix(d, "_"+rest) {
						ok = true
					}
				}
			}
		}
		if !ok {
			t.Errorf("config.example.env names %s, which the program does not read", d)
		}
	}
}

// The compose files set only variables the program reads, and agree with
// the image on the HTTP port and the state volume.
func TestComposeFilesAreConsistent(t *testing.T) {
	doc := documented(t)
	for _, file := range []string{"../docker-compose.yml", "../docker-compose.socket-proxy.yml"} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var compose struct {
			Services map[string]struct {
				Environment map[string]string `yaml:"environment"`
				Ports       []string          `yaml:"ports"`
				Volumes     []string          `yaml:"volumes"`
				ReadOnly    bool              `yaml:"read_only"`
				CapDrop     []string          `yaml:"cap_drop"`
			} `yaml:"services"`
		}
		if err := yaml.Unmarshal(b, &compose); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		ww, ok := compose.Services["whalewatch"]
		if !ok {
			t.Fatalf("%s: no whalewatch service", file)
		}
		for k := range ww.Environment {
			if !doc[k] {
				t.Errorf("%s sets %s, which config.example.env does not document", file, k)
			}
		}
		if port := strings.TrimPrefix(ww.Environment["HTTP_ADDR"], ":"); len(ww.Ports) == 0 || !strings.HasSuffix(ww.Ports[0], ":"+port) {
			t.Errorf("%s: HTTP_ADDR %s is not the published port %v", file, ww.Environment["HTTP_ADDR"], ww.Ports)
		}
		if !slices.ContainsFunc(ww.Volumes, func(v string) bool { return strings.HasSuffix(v, ":/var/lib/whalewatch") }) {
			t.Errorf("%s: no volume for the state directory /var/lib/whalewatch", file)
		}
		if !ww.ReadOnly || !slices.Contains(ww.CapDrop, "ALL") {
			t.Errorf("%s: whalewatch should run read_only with cap_drop ALL", file)
		}
	}
}

// The socket proxy of docker-compose.socket-proxy.yml allows every Docker
// call whalewatch makes, and nothing that writes but start, stop and
// restart. Its image is LinuxServer's socket-proxy, whose ALLOW_START,
// ALLOW_STOP and ALLOW_RESTARTS rules come before its POST=0 refusal
// (Tecnativa's image refuses every POST first when POST=0, so the
// buttons would get 403).
func TestSocketProxyAllowsEveryCallWhalewatchMakes(t *testing.T) {
	b, err := os.ReadFile("../docker-compose.socket-proxy.yml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Image       string            `yaml:"image"`
			Environment map[string]string `yaml:"environment"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &compose); err != nil {
		t.Fatal(err)
	}
	proxy := compose.Services["docker-proxy"]
	if !strings.HasPrefix(proxy.Image, "lscr.io/linuxserver/socket-proxy:") {
		t.Errorf("proxy image %q: not LinuxServer's socket-proxy", proxy.Image)
	}
	for _, call := range []struct{ api, variable string }{
		{"GET /events", "EVENTS"},
		{"GET /containers/json, /containers/{id}/json, /containers/{id}/logs", "CONTAINERS"},
		{"GET /info", "INFO"},
		{"GET /version, /_ping (API version negotiation)", "VERSION"},
		{"GET /_ping", "PING"},
		{"GET /nodes/{id} (the Swarm leader check)", "NODES"},
		{"POST /containers/{id}/start", "ALLOW_START"},
		{"POST /containers/{id}/stop", "ALLOW_STOP"},
		{"POST /containers/{id}/restart", "ALLOW_RESTARTS"},
	} {
		if proxy.Environment[call.variable] != "1" {
			t.Errorf("%s needs %s: 1 on the proxy (it is %q)", call.api, call.variable, proxy.Environment[call.variable])
		}
	}
	if proxy.Environment["POST"] != "0" {
		t.Errorf("POST is %q: any other write (create, exec) would pass the proxy", proxy.Environment["POST"])
	}
}
