package statestore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Dir keeps documents as files under a folder, for local runs. Its ETag is
// the SHA-256 of the content. Conditions are checked under a lock shared by
// every Dir of this process; two processes writing one folder at once are
// not protected (use Blob for that).
type Dir struct {
	Root string
}

var dirLock sync.Mutex

// Describe implements Store.
func (d Dir) Describe() string { return "dir:" + d.Root }

func (d Dir) path(name string) (string, error) {
	clean := filepath.Clean(filepath.FromSlash(name))
	if clean == "." || filepath.IsAbs(clean) || strings.HasPrefix(clean, "..") {
		return "", fmt.Errorf("statestore: document name %q leaves the state folder", name)
	}
	return filepath.Join(d.Root, clean), nil
}

func etagOf(data []byte) string {
	sum := sha256.Sum256(data)
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}

// Get implements Store.
func (d Dir) Get(_ context.Context, name string) ([]byte, string, error) {
	p, err := d.path(name)
	if err != nil {
		return nil, "", err
	}
	data, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, "", ErrNotFound
	}
	if err != nil {
		return nil, "", fmt.Errorf("statestore: %w", err)
	}
	return data, etagOf(data), nil
}

// Put implements Store.
func (d Dir) Put(_ context.Context, name string, data []byte, cond Condition) (string, error) {
	p, err := d.path(name)
	if err != nil {
		return "", err
	}
	dirLock.Lock()
	defer dirLock.Unlock()
	current, err := os.ReadFile(p)
	exists := err == nil
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("statestore: %w", err)
	}
	if cond.IfNoneMatch && exists {
		return "", ErrConflict
	}
	if cond.IfMatch != "" && (!exists || etagOf(current) != cond.IfMatch) {
		return "", ErrConflict
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", fmt.Errorf("statestore: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return "", fmt.Errorf("statestore: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return "", fmt.Errorf("statestore: %w", err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("statestore: %w", err)
	}
	// Rename is atomic: a reader sees the old or the new document, never half.
	if err := os.Rename(tmp.Name(), p); err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("statestore: %w", err)
	}
	return etagOf(data), nil
}
