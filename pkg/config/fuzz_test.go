package config

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds arbitrary configuration files to Load: a configuration or a usage error,
// never a panic, and an accepted one always names a URI.
func FuzzLoad(f *testing.F) {
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, body []byte) {
		path := filepath.Join(dir, "config.toml")
		if err := os.WriteFile(path, body, 0o600); err != nil {
			t.Fatal(err)
		}
		l, err := Load(Options{File: path, Getenv: env(map[string]string{"HOME": dir}), UID: 1000})
		if err != nil {
			return
		}
		if l.Config.URI == "" {
			t.Fatalf("accepted configuration without a URI: %q", body)
		}
	})
}
