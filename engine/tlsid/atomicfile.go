package tlsid

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// writeFileAtomic replaces path with data so that a crash at any instant leaves either the old
// file or the new one, never a mix: write a temporary file (mode 0600) in the same directory,
// fsync it, rename it over path, then fsync the directory so the rename itself is durable.
//
// With noReplace, an existing path is left alone and fs.ErrExist is returned; the new file is
// put in place with a hard link, which fails atomically if the name is taken.
func writeFileAtomic(path string, data []byte, noReplace bool) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	tmpName := tmp.Name()
	defer func() {
		if tmp != nil {
			tmp.Close()
		}
		os.Remove(tmpName) // after a rename this finds nothing; after a link it drops the extra name
	}()
	if err := tmp.Chmod(0o600); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		tmp = nil
		return err
	}
	tmp = nil
	if noReplace {
		if err := os.Link(tmpName, path); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return fs.ErrExist
			}
			// File systems without hard links: fall back to check-then-rename, which is only
			// racy against another process creating the same file at the same moment.
			if _, statErr := os.Lstat(path); statErr == nil {
				return fs.ErrExist
			}
			if err := os.Rename(tmpName, path); err != nil {
				return err
			}
		}
	} else if err := os.Rename(tmpName, path); err != nil {
		return err
	}
	syncDir(dir)
	return nil
}

// syncDir makes a rename in dir durable. Some platforms cannot fsync a directory; the rename
// is still atomic there, only its durability across power loss is up to the file system.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	d.Close()
}

// readFileLimited reads path, refusing files larger than limit as ErrCorruptInput.
func readFileLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: %s is larger than the %d-byte limit", ErrCorruptInput, path, limit)
	}
	return data, nil
}
