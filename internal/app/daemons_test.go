package app

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/whalewatch/whalewatch/config"
	"github.com/whalewatch/whalewatch/events"
	"github.com/whalewatch/whalewatch/internal/metrics"
)

// tlsFiles writes ca.pem, cert.pem and key.pem (one self-signed
// certificate) into a new directory: what a daemon's TLS settings name.
func tlsFiles(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "whalewatch test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	for name, data := range map[string][]byte{"ca.pem": cert, "cert.pem": cert,
		"key.pem": pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// Each configured daemon gets a client reaching it as configured: the
// default socket or DOCKER_HOST (with its TLS files), ssh:// through the
// dialer (the URL only names the host), every DOCKER_HOSTS entry in the
// order of their names; plain TCP is warned about, naming the daemon.
// No daemon is contacted: the names are given.
func TestConnectDaemons(t *testing.T) {
	certs := tlsFiles(t)
	junk := t.TempDir() // TLS files that are no certificates
	for _, f := range []string{"ca.pem", "cert.pem", "key.pem"} {
		if err := os.WriteFile(filepath.Join(junk, f), []byte("pem"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		desc    string
		env     []string
		hosts   []string // source name=client's daemon URL, in order
		warn    string   // in the log; "" for no warning
		wantErr string
	}{
		{desc: "default socket", env: []string{"HOST_NAME=main"},
			hosts: []string{"main=unix:///var/run/docker.sock"}},
		{desc: "DOCKER_HOST unix", env: []string{"HOST_NAME=main", "DOCKER_HOST=unix:///run/other.sock"},
			hosts: []string{"main=unix:///run/other.sock"}},
		{desc: "DOCKER_HOST tcp with TLS", env: []string{"HOST_NAME=main", "DOCKER_HOST=tcp://10.0.0.5:2376", "DOCKER_TLS_VERIFY=1", "DOCKER_CERT_PATH=" + certs},
			hosts: []string{"main=tcp://10.0.0.5:2376"}},
		{desc: "DOCKER_HOST tcp without TLS", env: []string{"HOST_NAME=main", "DOCKER_HOST=tcp://10.0.0.5:2375"},
			hosts: []string{"main=tcp://10.0.0.5:2375"}, warn: "docker_host=tcp://10.0.0.5:2375"},
		{desc: "DOCKER_HOST ssh", env: []string{"HOST_NAME=main", "DOCKER_HOST=ssh://ops@10.0.0.7"},
			hosts: []string{"main=http://docker.invalid"}},
		{desc: "DOCKER_HOSTS several", env: []string{"DOCKER_HOSTS=web2=unix:///run/b.sock,web1=ssh://ops@web1:2222,db=tcp://10.0.0.6:2376",
			"DOCKER_DB_CERT_PATH=" + certs},
			hosts: []string{"db=tcp://10.0.0.6:2376", "web1=http://web1.docker.invalid", "web2=unix:///run/b.sock"}},
		{desc: "DOCKER_HOSTS tcp without TLS", env: []string{"DOCKER_HOSTS=edge=tcp://10.0.0.8:2375"},
			hosts: []string{"edge=tcp://10.0.0.8:2375"}, warn: "reached over TCP without TLS: anyone on the path can act as root on it; set DOCKER_<NAME>_CERT_PATH\" host=edge"},
		{desc: "DOCKER_HOSTS TLS files that are no certificates", env: []string{"DOCKER_HOSTS=secure=tcp://10.0.0.9:2376", "DOCKER_SECURE_CERT_PATH=" + junk},
			wantErr: "docker host secure: "},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			// The Docker client reads DOCKER_HOST and its TLS variables itself.
			for _, name := range []string{"DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"} {
				t.Setenv(name, "")
			}
			for _, kv := range tc.env {
				if name, value, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "DOCKER_") {
					t.Setenv(name, value)
				}
			}
			cfg, err := config.Load(tc.env)
			if err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			d, err := ConnectDaemons(context.Background(), cfg, events.Options{Log: slog.New(slog.NewTextHandler(&logs, nil)), Metrics: metrics.New()})
			if tc.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want an error starting %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			var got []string
			for i, src := range d.Sources() {
				got = append(got, src.Host+"="+d.clients[i].DaemonHost())
			}
			if strings.Join(got, " ") != strings.Join(tc.hosts, " ") {
				t.Errorf("daemons %v, want %v", got, tc.hosts)
			}
			if warned := strings.Contains(logs.String(), "level=WARN"); warned != (tc.warn != "") || !strings.Contains(logs.String(), tc.warn) {
				t.Errorf("log %q, want a warning with %q", logs.String(), tc.warn)
			}
		})
	}
}
