package configs

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// devKeyFile is where dev mode keeps the encryption key it generated.
const devKeyFile = "dev-encryption.key"

// MasterKey returns the 32-byte encryption key from which every other key
// is derived: crypto.encryption_key when set; in dev mode without it, the
// key kept under data_dir, generated (0600) on first start. generatedAt is
// the file's path when this call created it, for the start-up log.
func (c *Config) MasterKey() (key []byte, generatedAt string, err error) {
	if c.Crypto.EncryptionKey != "" {
		k, err := c.Crypto.Key()
		if err != nil {
			return nil, "", fmt.Errorf("crypto.encryption_key: %w", err)
		}
		return k, "", nil
	}
	if c.Mode != ModeDev {
		return nil, "", errors.New("crypto.encryption_key: required outside dev mode (make one with: openssl rand -base64 32)")
	}
	path := filepath.Join(c.DataDir, devKeyFile)
	raw, err := os.ReadFile(path)
	switch {
	case err == nil:
		k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(raw)))
		if err != nil || len(k) != 32 {
			return nil, "", fmt.Errorf("%s: not a base64 32-byte key; delete it to generate a new one (existing data becomes unreadable)", path)
		}
		return k, "", nil
	case !errors.Is(err, os.ErrNotExist):
		return nil, "", fmt.Errorf("read dev encryption key: %w", err)
	}
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, "", fmt.Errorf("generate dev encryption key: %w", err)
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return nil, "", fmt.Errorf("data_dir: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, "", fmt.Errorf("write dev encryption key: %w", err)
	}
	if _, err := f.WriteString(base64.StdEncoding.EncodeToString(k) + "\n"); err != nil {
		f.Close()
		return nil, "", fmt.Errorf("write dev encryption key: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, "", fmt.Errorf("write dev encryption key: %w", err)
	}
	return k, path, nil
}
