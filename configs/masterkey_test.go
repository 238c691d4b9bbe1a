package configs

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMasterKey(t *testing.T) {
	t.Parallel()
	given := bytes.Repeat([]byte{1}, 32)
	tests := []struct {
		name    string
		cfg     func(dir string) *Config
		want    []byte // nil: a generated key
		wantErr string
	}{
		{"the configured key is used", func(dir string) *Config {
			return &Config{Mode: ModeProduction, DataDir: dir, Crypto: Crypto{EncryptionKey: base64.StdEncoding.EncodeToString(given)}}
		}, given, ""},
		{"production without a key is refused", func(dir string) *Config {
			return &Config{Mode: ModeProduction, DataDir: dir}
		}, nil, "crypto.encryption_key: required outside dev mode"},
		{"a malformed key names the key", func(dir string) *Config {
			return &Config{Mode: ModeDev, DataDir: dir, Crypto: Crypto{EncryptionKey: "c2hvcnQ="}}
		}, nil, "crypto.encryption_key: decodes to 5 bytes"},
		{"dev mode without a key generates one", func(dir string) *Config {
			return &Config{Mode: ModeDev, DataDir: filepath.Join(dir, "data")}
		}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := tt.cfg(t.TempDir())
			key, generated, err := c.MasterKey()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("MasterKey() err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.want != nil {
				if !bytes.Equal(key, tt.want) || generated != "" {
					t.Errorf("MasterKey() = %x, %q; want the configured key", key, generated)
				}
				return
			}
			// Generated: 32 bytes, kept 0600 in a 0700 data_dir, and the same on the next start.
			st, err := os.Stat(generated)
			if err != nil || len(key) != 32 || st.Mode().Perm() != 0o600 {
				t.Fatalf("generated key %d bytes at %q: %v, mode %v", len(key), generated, err, st.Mode())
			}
			if dst, _ := os.Stat(c.DataDir); dst.Mode().Perm() != 0o700 {
				t.Errorf("data_dir mode = %v, want 0700", dst.Mode().Perm())
			}
			again, generated2, err := c.MasterKey()
			if err != nil || !bytes.Equal(again, key) || generated2 != "" {
				t.Errorf("second MasterKey() = %x, %q, %v; want the same key, not generated", again, generated2, err)
			}
		})
	}
}
