package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"
)

// The state copy is the receiver's whole stored state (checkpoint, remembered rows, rows
// waiting for details: the same keys and values as in the storage file) in a plain file beside
// the storage file, <file>.copy, replaced atomically (temporary file and rename). A storage file
// found damaged at start is replaced by a new one holding the copy, and the normal load checks
// it like any stored state. The copy is written after a save succeeded and at most every
// stateCopyEvery (and at shutdown), so it lags the storage file by at most that much: restored,
// the receiver reads again what it delivered in that time (duplicates of at most
// stateCopyEvery of rows, no loss). It is only read after damage; the storage file is the truth.

func (sf *stateStorage) stateCopyPath() string {
	if sf.path == "" {
		return ""
	}
	return sf.path + stateCopySuffix
}

// writeStateCopy replaces the copy with the state just saved, if the last copy is older than
// stateCopyEvery or force is set.
func (sf *stateStorage) writeStateCopy(force bool) {
	path := sf.stateCopyPath()
	if path == "" || (!force && sf.now().Sub(sf.copiedAt) < stateCopyEvery) {
		return
	}
	// The whole state, not what changed since the last save.
	entries, err := sf.state.entries()
	if err != nil {
		return
	}
	c := stateCopy{Version: stateCopyVersion, Receiver: sf.id.String(), Saved: sf.now().UTC(), Entries: entries}
	if err := writeFileAtomic(path, c); err != nil {
		sf.logger.Warn("could not write the state copy beside the storage file; a damaged storage file would cost more duplicates",
			zap.String("file", path), zap.Error(err))
		return
	}
	sf.copiedAt = sf.now()
}

func writeFileAtomic(path string, v any) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600) //nolint:gosec // G304: beside the configured storage file, <file>.copy.tmp
	if err != nil {
		return err
	}
	if err := json.NewEncoder(f).Encode(v); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	// The copy is what a damaged storage file is restored from, and power loss is what damages
	// files most: the content is synced before the rename makes it the copy, and the directory
	// after it, so a crash leaves the old copy or the new one, never an empty file.
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// syncDir makes a rename in dir durable. Windows cannot open a directory for syncing, and its
// renames need no such step.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir) //nolint:gosec // G304: the configured storage file's directory, opened only to sync it
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// readStateCopy reads and checks the copy at path.
func readStateCopy(path string, receiver string, now time.Time) (*stateCopy, error) {
	f, err := os.Open(path) //nolint:gosec // G304: <file>.copy beside the configured storage file, checked before use
	if err != nil {
		return nil, err
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, maxStateCopyBytes+1))
	if err != nil {
		return nil, err
	}
	if len(raw) > maxStateCopyBytes {
		return nil, fmt.Errorf("larger than %d bytes", maxStateCopyBytes)
	}
	var c stateCopy
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("not a state copy: %w", err)
	}
	switch {
	case c.Version != stateCopyVersion:
		return nil, fmt.Errorf("version %d, this build reads %d", c.Version, stateCopyVersion)
	case c.Receiver != receiver:
		return nil, fmt.Errorf("the copy of receiver %q, not %q", c.Receiver, receiver)
	case c.Saved.After(now.Add(maxClockSkew)):
		return nil, fmt.Errorf("saved in the future (%s)", c.Saved.Format(time.RFC3339))
	}
	for _, e := range c.Entries {
		if !stateCopyKeyOK(e.Key) {
			return nil, fmt.Errorf("unknown key %q", e.Key)
		}
	}
	return &c, nil
}

// restoreStateCopy writes the state copy into the new storage file that replaced a damaged one.
// Without a usable copy the receiver starts from initial_lookback, and says what that costs.
func (sf *stateStorage) restoreStateCopy(ctx context.Context) {
	path := sf.stateCopyPath()
	c, err := readStateCopy(path, sf.id.String(), sf.now())
	if err == nil {
		ops := make([]*storage.Operation, 0, len(c.Entries))
		for _, e := range c.Entries {
			ops = append(ops, storage.SetOperation(e.Key, e.Value))
		}
		if err = sf.client.Batch(ctx, ops...); err == nil {
			sf.logger.Warn("restored the state copy into the new storage file; rows delivered after the copy was saved are read and emitted again",
				zap.String("copy", path), zap.Time("copy_saved", c.Saved), zap.Duration("copy_age", sf.now().Sub(c.Saved)))
			return
		}
	}
	sf.logger.Error("no usable state copy for the damaged storage file: starting from initial_lookback; rows since then are emitted again, older rows not yet delivered are not read",
		zap.String("copy", path), zap.Error(err), zap.Duration("initial_lookback", sf.cfg.InitialLookback))
}
