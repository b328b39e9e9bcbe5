package statestore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// Dir keeps documents as files under a folder, for local runs. Its ETag is
// the SHA-256 of the content.
//
// Conditional writes hold across processes, as Blob's do. A create-if-absent
// write (If-None-Match: *) writes a temporary file and hard-links it to the
// document's name, which the file system does atomically or refuses because
// the name is taken. Any other write takes an exclusive OS lock (flock on
// Linux and macOS, LockFileEx on Windows) on one of lockStripes lock files
// under <Root>/.locks, chosen by the document's name, and checks the
// condition, writes a temporary file and renames it over the document while
// it holds the lock. The lock is the kernel's, so a process killed while
// holding it releases it; no stale lock files need breaking. Readers take no
// lock: link and rename make every read see a whole document, old or new.
// (Eight concurrent `idpkeeper run`s on one folder send each notice once:
// functions/crash_test.go.)
type Dir struct {
	Root string
}

// lockStripes bounds the lock files: documents share 64 locks by a hash of
// their names, so unrelated writers rarely wait on each other and the
// number of lock files never grows with the number of documents. Lock files
// are never deleted: deleting a lock file that another process has open is
// what makes file locking unsafe.
const lockStripes = 64

// lockDir is the folder of the lock files, hidden from List.
const lockDir = ".locks"

// stripeMu serialises the goroutines of this process per stripe in front of
// the OS lock (which platforms without one do not have: see lock_other.go).
var stripeMu [lockStripes]sync.Mutex

// Describe implements Store.
func (d Dir) Describe() string { return "dir:" + d.Root }

func (d Dir) path(name string) (string, error) {
	clean := filepath.Clean(filepath.FromSlash(name))
	if clean == "." || filepath.IsAbs(clean) || strings.HasPrefix(clean, "..") {
		return "", fmt.Errorf("statestore: document name %q leaves the state folder", name)
	}
	for _, part := range strings.Split(filepath.ToSlash(clean), "/") {
		if strings.HasPrefix(part, ".") {
			// Names starting with a dot are the store's own (locks,
			// temporary files).
			return "", fmt.Errorf("statestore: document name %q has a part starting with a dot", name)
		}
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

// lock takes the in-process and the OS lock of name's stripe and returns the
// function that releases both.
func (d Dir) lock(name string) (func(), error) {
	h := fnv.New32a()
	h.Write([]byte(name))
	stripe := h.Sum32() % lockStripes
	mu := &stripeMu[stripe]
	mu.Lock()
	dir := filepath.Join(d.Root, lockDir)
	if err := d.mkdir(dir); err != nil {
		mu.Unlock()
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("%02d.lock", stripe)), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		mu.Unlock()
		return nil, fmt.Errorf("statestore: lock file: %w", err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		mu.Unlock()
		return nil, fmt.Errorf("statestore: lock %s: %w", f.Name(), err)
	}
	return func() {
		unlockFile(f)
		f.Close()
		mu.Unlock()
	}, nil
}

// Put implements Store.
func (d Dir) Put(_ context.Context, name string, data []byte, cond Condition) (string, error) {
	p, err := d.path(name)
	if err != nil {
		return "", err
	}
	if err := d.mkdir(filepath.Dir(p)); err != nil {
		return "", err
	}
	if cond.IfNoneMatch && cond.IfMatch == "" {
		// Create-if-absent needs no lock: a hard link of the finished
		// temporary file is created atomically, or fails because the name
		// is taken — by any writer, locked or not (link(2),
		// CreateHardLinkW).
		etag, err := d.create(p, data)
		if !errors.Is(err, errNoHardLinks) {
			return etag, err
		}
		// A file system without hard links: the locked path below.
	}
	unlock, err := d.lock(name)
	if err != nil {
		return "", err
	}
	defer unlock()
	if cond.IfNoneMatch && cond.IfMatch == "" {
		if _, err := os.Lstat(p); err == nil {
			return "", ErrConflict
		} else if !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("statestore: %w", err)
		}
	}
	if cond.IfMatch != "" {
		current, err := os.ReadFile(p)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("statestore: %w", err)
		}
		if err != nil || cond.IfNoneMatch || etagOf(current) != cond.IfMatch {
			return "", ErrConflict
		}
	}
	tmp, err := writeTemp(filepath.Dir(p), data)
	if err != nil {
		return "", err
	}
	// Rename is atomic: a reader sees the old or the new document, never half.
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("statestore: %w", err)
	}
	return etagOf(data), nil
}

// create writes a new document at p, or answers ErrConflict if one exists.
func (d Dir) create(p string, data []byte) (string, error) {
	tmp, err := writeTemp(filepath.Dir(p), data)
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp)
	if err := hardLink(tmp, p); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return "", ErrConflict
		}
		if errors.Is(err, errors.ErrUnsupported) || errors.Is(err, fs.ErrPermission) {
			// EPERM/ENOTSUP/EOPNOTSUPP: a file system (FAT, some network
			// mounts) that has no hard links.
			return "", errNoHardLinks
		}
		return "", fmt.Errorf("statestore: %w", err)
	}
	return etagOf(data), nil
}

var errNoHardLinks = errors.New("statestore: no hard links on this file system")

// hardLink is os.Link; a variable so that a test can play a file system
// without hard links.
var hardLink = os.Link

// writeTemp writes data to a new hidden file in dir and returns its path.
func writeTemp(dir string, data []byte) (string, error) {
	tmp, err := os.CreateTemp(dir, ".tmp-*")
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
	return tmp.Name(), nil
}

// madeDirs remembers the folders this process has made, so that a burst of
// writes into one folder (10,000 parked events) calls MkdirAll once.
var madeDirs sync.Map

func (d Dir) mkdir(dir string) error {
	if _, ok := madeDirs.Load(dir); ok {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("statestore: %w", err)
	}
	madeDirs.Store(dir, true)
	return nil
}

// List implements Lister. Names starting with a dot (locks, temporary
// files of an interrupted write) are not documents and are left out.
func (d Dir) List(ctx context.Context, prefix string) ([]Info, error) {
	// Walk only the folder the prefix names ("parked/" → parked,
	// "outbox/2026-" → outbox), not the whole store.
	base := prefix
	if i := strings.LastIndex(base, "/"); i >= 0 {
		base = base[:i]
	} else {
		base = ""
	}
	start := d.Root
	if base != "" {
		p, err := d.path(base)
		if err != nil {
			return nil, err
		}
		start = p
	}
	var out []Info
	err := filepath.WalkDir(start, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if p != start && strings.HasPrefix(e.Name(), ".") {
			if e.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if e.IsDir() {
			return ctx.Err()
		}
		rel, err := filepath.Rel(d.Root, p)
		if err != nil {
			return err
		}
		name := filepath.ToSlash(rel)
		if !strings.HasPrefix(name, prefix) || !e.Type().IsRegular() {
			return nil
		}
		fi, err := e.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // deleted meanwhile
			}
			return err
		}
		out = append(out, Info{Name: name, Modified: fi.ModTime().UTC(), Size: fi.Size()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("statestore: list %s: %w", prefix, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Delete implements Lister.
func (d Dir) Delete(_ context.Context, name string) error {
	p, err := d.path(name)
	if err != nil {
		return err
	}
	unlock, err := d.lock(name)
	if err != nil {
		return err
	}
	defer unlock()
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("statestore: %w", err)
	}
	return nil
}
