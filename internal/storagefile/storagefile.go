// Package storagefile finds and checks the bbolt file that contrib's file_storage extension
// keeps a component's storage client in, so that a damaged file can be moved aside before
// file_storage opens it (bbolt crashes the whole process on a damaged file; see
// internal/boltcheck).
package storagefile // import "github.com/msgtrace/otelcol-msgtrace/internal/storagefile"

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"

	"github.com/msgtrace/otelcol-msgtrace/internal/boltcheck"
)

// fileStoragePkg and fileStorageType name contrib's file_storage extension, whose directory
// (unexported) tells where a client's file is. TestPathOfFileStorage pins this to the real
// extension; any other shape means "unknown", never a wrong path.
const (
	fileStoragePkg  = "github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	fileStorageType = "localFileStorage"
	// maxFileName is NAME_MAX; file_storage uses a hash of longer names.
	maxFileName = 255
)

// Path returns the file contrib's file_storage (v0.165) keeps the client GetClient(kind, id,
// name) in, or false when ext is not file_storage.
func Path(ext any, kind component.Kind, id component.ID, name string) (string, bool) {
	v := reflect.ValueOf(ext)
	if !v.IsValid() || v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return "", false
	}
	if t := v.Elem().Type(); t.PkgPath() != fileStoragePkg || t.Name() != fileStorageType {
		return "", false
	}
	cfg := v.Elem().FieldByName("cfg")
	if cfg.Kind() != reflect.Pointer || cfg.IsNil() || cfg.Elem().Kind() != reflect.Struct {
		return "", false
	}
	dir := cfg.Elem().FieldByName("Directory")
	if dir.Kind() != reflect.String || dir.String() == "" {
		return "", false
	}
	raw := fmt.Sprintf("%s_%s_%s", kindString(kind), id.Type(), id.Name())
	if name != "" {
		raw += "_" + name
	}
	file := sanitize(raw)
	if len(file) > maxFileName {
		sum := sha256.Sum256([]byte(file))
		file = hex.EncodeToString(sum[:])
	}
	return filepath.Join(dir.String(), file), true
}

func kindString(k component.Kind) string {
	switch k {
	case component.KindReceiver:
		return "receiver"
	case component.KindProcessor:
		return "processor"
	case component.KindExporter:
		return "exporter"
	case component.KindExtension:
		return "extension"
	case component.KindConnector:
		return "connector"
	}
	return "other"
}

// sanitize is file_storage's: every character but [A-Za-z0-9._-] becomes ~XXXX.
func sanitize(name string) string {
	var b strings.Builder
	for _, c := range name {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '-', c == '_':
			b.WriteRune(c)
		default:
			fmt.Fprintf(&b, "~%04X", c)
		}
	}
	return b.String()
}

// Damage is a storage file found damaged and what happened to it.
type Damage struct {
	Path   string
	Reason error  // what boltcheck found
	Aside  string // where the file went; "" if it could not be moved
	Err    error  // why it could not be moved
}

// MoveAsideIfDamaged verifies the file at path and renames a damaged one to
// <path>.damaged-<UTC time>. It returns nil for a sound, empty, absent or unreadable file
// (unreadable: opening it fails with its own error, it cannot crash).
func MoveAsideIfDamaged(path string, now time.Time) *Damage {
	err := boltcheck.Verify(path)
	if err == nil || !errors.Is(err, boltcheck.ErrDamaged) {
		return nil
	}
	return MoveAside(path, err, now)
}

// MoveAside renames the damaged file at path to <path>.damaged-<UTC time>.
func MoveAside(path string, reason error, now time.Time) *Damage {
	d := &Damage{Path: path, Reason: reason}
	aside := path + ".damaged-" + now.UTC().Format("20060102T150405Z")
	if err := os.Rename(path, aside); err != nil {
		d.Err = err
		return d
	}
	d.Aside = aside
	return d
}
