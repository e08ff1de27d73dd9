package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"

	"github.com/msgtrace/otelcol-msgtrace/internal/boltcheck"
	"github.com/msgtrace/otelcol-msgtrace/internal/storagefile"
)

// A damaged file_storage file must cost its own tenant at most. bbolt trusts its file: opening a
// damaged one panics in a goroutine of bbolt's own (the freelist walk of NoFreelistSync, which
// file_storage sets), and reading a page in use past a truncated file's end faults in the
// mapping; no recover reaches either. So bbolt must never see a damaged file:
//
//   - before the client opens the file, boltcheck verifies it without bbolt; a damaged file is
//     moved aside (<file>.damaged-<UTC time>), the tenant reports a setup problem and starts on a
//     new file, restored from the copy of its state kept beside it (statecopy.go);
//   - before each save, a file that something else changed since the receiver's last write
//     (checkBeforeSave) is verified again; a damaged one is moved aside before bbolt touches it
//     and the receiver writes its whole state, which it holds in memory, to a new file.
//
// Storage calls also run guarded (guardedClient: faults and panics become errors, and the file
// is replaced), but for file_storage that is a last resort only: a panic inside bbolt's write
// transaction makes its rollback walk the file again in a goroutine of its own, out of reach.
//
// The file's path is only known for contrib's file_storage (internal/storagefile); with another
// storage extension the calls are still guarded, but there is no check and no copy.

// errStorageFault is what a guarded storage call returns when the storage panicked or faulted.
var errStorageFault = errors.New("the storage file is damaged: its client panicked or faulted")

// guardedClient runs every call of the client with faults turned into panics and panics into
// errors, in the calling goroutine (file_storage runs bbolt's transactions in it).
type guardedClient struct {
	storage.Client
	fault atomic.Bool // a call faulted or panicked
}

func (g *guardedClient) faulted() bool { return g.fault.Load() }

func (g *guardedClient) guard(call func() error) (err error) {
	old := debug.SetPanicOnFault(true)
	defer debug.SetPanicOnFault(old)
	defer func() {
		if p := recover(); p != nil {
			g.fault.Store(true)
			err = fmt.Errorf("%w (%v)", errStorageFault, p)
		}
	}()
	return call()
}

func (g *guardedClient) Get(ctx context.Context, key string) (v []byte, err error) {
	err = g.guard(func() error { v, err = g.Client.Get(ctx, key); return err })
	return v, err
}

func (g *guardedClient) Set(ctx context.Context, key string, value []byte) error {
	return g.guard(func() error { return g.Client.Set(ctx, key, value) })
}

func (g *guardedClient) Delete(ctx context.Context, key string) error {
	return g.guard(func() error { return g.Client.Delete(ctx, key) })
}

func (g *guardedClient) Batch(ctx context.Context, ops ...*storage.Operation) error {
	return g.guard(func() error { return g.Client.Batch(ctx, ops...) })
}

// storageCloseTimeout bounds the wait for closing a client whose file faulted: bbolt's Close
// waits for its locks, which a panicking transaction may have left taken.
const storageCloseTimeout = 5 * time.Second

// Close closes the client within storageCloseTimeout; past it the client is left behind (one
// goroutine and one open file, for a client that is replaced anyway).
func (g *guardedClient) Close(ctx context.Context) error {
	done := make(chan error, 1)
	go func() { done <- g.guard(func() error { return g.Client.Close(ctx) }) }()
	timer := time.NewTimer(storageCloseTimeout)
	defer timer.Stop()
	select {
	case err := <-done:
		return err
	case <-timer.C:
		return fmt.Errorf("closing the storage client took longer than %v; left behind", storageCloseTimeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// quarantineIfDamaged verifies the storage file before a client opens it. A damaged file is
// moved aside and reported; it says whether it was. A damaged file that cannot be moved is an
// error: opening it would crash the collector.
func (sf *stateStorage) quarantineIfDamaged(path string) (bool, error) {
	d := storagefile.MoveAsideIfDamaged(path, sf.now())
	if d == nil {
		return false, nil
	}
	if !sf.reportDamage(d) {
		return false, &setupError{msg: fmt.Sprintf("`storage`: the file %s is damaged (%v) and cannot be moved aside: remove it", path, d.Reason)}
	}
	return true, nil
}

// moveAside renames a damaged storage file and reports it; it says whether the file moved.
func (sf *stateStorage) moveAside(path string, why error) bool {
	return sf.reportDamage(storagefile.MoveAside(path, why, sf.now()))
}

// reportDamage logs a damaged storage file and reports the setup problem on the status.
func (sf *stateStorage) reportDamage(d *storagefile.Damage) bool {
	if d.Aside == "" {
		sf.logger.Error("the storage file is damaged and cannot be moved aside: remove or repair it, the tenant's state cannot be stored meanwhile",
			zap.String("file", d.Path), zap.NamedError("damage", d.Reason), zap.Error(d.Err))
		return false
	}
	sf.logger.Error("the storage file is damaged: moved aside, the tenant goes on with a new file restored from its state copy; "+
		"check the disk, keep or delete the damaged file",
		zap.String("file", d.Path), zap.String("moved_to", d.Aside), zap.NamedError("damage", d.Reason))
	sf.health.failed(&setupError{msg: fmt.Sprintf("`storage`: the file %s was damaged (%v) and was moved to %s; check the disk", d.Path, d.Reason, d.Aside)})
	return true
}

// openStorage opens this receiver's client of ext, verifying its file first when the file is
// known; a damaged one is replaced by a new file restored from the state copy.
func (sf *stateStorage) openStorage(ctx context.Context, ext storage.Extension) error {
	if sf.path == "" {
		path, ok := storagefile.Path(ext, component.KindReceiver, sf.id, "")
		if !ok {
			sf.logger.Debug("the storage extension is not file_storage: its file is not verified before opening, and no state copy is kept",
				zap.String("storage", sf.cfg.StorageID.String()))
		}
		sf.path = path
	}
	var damaged bool
	if sf.path != "" {
		var err error
		if damaged, err = sf.quarantineIfDamaged(sf.path); err != nil {
			return err
		}
	}
	client, err := ext.GetClient(ctx, component.KindReceiver, sf.id, "")
	if err != nil {
		return fmt.Errorf("`storage`: cannot open a client of %q: %w", sf.cfg.StorageID, err)
	}
	sf.client = &guardedClient{Client: client}
	sf.ext = ext
	if damaged {
		sf.restoreStateCopy(ctx)
	}
	return nil
}

// recoverStorage replaces a client whose file faulted: it closes the client, moves the file
// aside and opens a new one. The receiver's whole state is in memory, so it is marked unsaved
// and the next save writes all of it: nothing is lost. It reports whether a new client is open.
func (sf *stateStorage) recoverStorage(ctx context.Context, cause error) bool {
	if sf.ext == nil || sf.path == "" {
		return false
	}
	if sf.client != nil {
		_ = sf.client.Close(ctx)
		sf.client = nil
	}
	// Until a new file is open nothing may use the closed client: a nil client makes the next
	// save come back here, whoever called (save, the check before a save, loading).
	if sf.state.store != nil {
		sf.state.store.client = nil
	}
	switch _, err := os.Stat(sf.path); {
	case err == nil:
		if !sf.moveAside(sf.path, cause) {
			return false
		}
	case errors.Is(err, os.ErrNotExist):
		sf.logger.Warn("the storage file disappeared while the receiver ran; its state goes to a new file", zap.String("file", sf.path))
	}
	client, err := sf.ext.GetClient(ctx, component.KindReceiver, sf.id, "")
	if err != nil {
		sf.logger.Error("could not open a new storage file after the damaged one was moved aside; retrying at the next save",
			zap.String("file", sf.path), zap.Error(err))
		return false
	}
	sf.client = &guardedClient{Client: client}
	sf.state.store.client = sf.client
	sf.state.markAllUnsaved()
	return true
}

func stampOf(path string) (fileStamp, error) {
	info, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{size: info.Size(), mod: info.ModTime()}, nil
}

// stampStorageFile records the file's stamp after this receiver wrote it.
func (sf *stateStorage) stampStorageFile() {
	if sf.path == "" {
		return
	}
	if st, err := stampOf(sf.path); err == nil {
		sf.stamp = st
	}
}

// checkBeforeSave verifies the storage file before a write when something else changed it
// since this receiver's last write (a truncation, an overwrite, a restored backup), and
// replaces a damaged file before bbolt touches it. It must come first: a panic inside bbolt's
// write transaction makes its rollback walk the damaged file again in a goroutine of its own
// (the freelist rebuilt for NoFreelistSync), whose panic or fault no recover reaches. A file
// unchanged since the last write is not read again, so the check costs one stat per save.
func (sf *stateStorage) checkBeforeSave(ctx context.Context) {
	if sf.path == "" || sf.state.store == nil || sf.state.store.client == nil {
		return
	}
	st, err := stampOf(sf.path)
	if err == nil && st == sf.stamp {
		return
	}
	if err == nil {
		err = boltcheck.Verify(sf.path)
		if err == nil || !errors.Is(err, boltcheck.ErrDamaged) {
			sf.stamp = st
			return
		}
	}
	// Damaged, or gone (its writes would go to an unlinked file): a new file, the whole state.
	if !sf.recoverStorage(ctx, err) {
		sf.state.store.client = nil
	}
}
