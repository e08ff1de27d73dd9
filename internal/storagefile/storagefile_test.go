package storagefile

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/storagetest"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/extension/xextension/storage"

	"github.com/msgtrace/otelcol-msgtrace/internal/boltcheck"
)

// TestPathOfFileStorage pins Path to the file the real file_storage opens, with its sanitizing
// and the hash of long names, for a receiver's client and an exporter's queue; and no path for
// any other extension.
func TestPathOfFileStorage(t *testing.T) {
	dir := t.TempDir()
	f := filestorage.NewFactory()
	cfg := f.CreateDefaultConfig().(*filestorage.Config)
	cfg.Directory = dir
	e, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := e.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	ext := e.(storage.Extension)
	cases := []struct {
		kind component.Kind
		id   component.ID
		name string
	}{
		{component.KindReceiver, component.MustNewIDWithName("office365_message_trace", "tenant_a"), ""},
		{component.KindReceiver, component.MustNewID("office365_message_trace"), ""},
		{component.KindReceiver, component.NewIDWithName(component.MustNewType("office365_message_trace"), "contoso/eu west"), ""},
		{component.KindReceiver, component.NewIDWithName(component.MustNewType("office365_message_trace"), strings.Repeat("x", 300)), ""},
		{component.KindExporter, component.MustNewID("devo"), "logs"},
		{component.KindExporter, component.MustNewIDWithName("devo", "eu"), "logs"},
	}
	for _, c := range cases {
		path, ok := Path(ext, c.kind, c.id, c.name)
		if !ok {
			t.Fatalf("%v: no path", c.id)
		}
		client, err := ext.GetClient(context.Background(), c.kind, c.id, c.name)
		if err != nil {
			t.Fatal(err)
		}
		if err := client.Set(context.Background(), "k", []byte("v")); err != nil {
			t.Fatal(err)
		}
		if err := client.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := boltcheck.Verify(path); err != nil {
			t.Fatalf("%v: %s is not the client's file: %v", c.id, path, err)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != len(cases) {
		t.Fatalf("%d files for %d clients", len(entries), len(cases))
	}
	for _, other := range []any{storagetest.NewFileBackedStorageExtension("x", t.TempDir()), nil, (*struct{})(nil), 42} {
		if p, ok := Path(other, component.KindReceiver, component.MustNewID("x"), ""); ok {
			t.Fatalf("%T: path %q", other, p)
		}
	}
}

func TestMoveAsideIfDamaged(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 12, 7, 15, 4, 5, 0, time.UTC)
	if d := MoveAsideIfDamaged(filepath.Join(dir, "absent"), now); d != nil {
		t.Fatalf("absent: %+v", d)
	}
	p := filepath.Join(dir, "junk")
	if err := os.WriteFile(p, []byte(strings.Repeat("junk", 3000)), 0o600); err != nil {
		t.Fatal(err)
	}
	d := MoveAsideIfDamaged(p, now)
	if d == nil || d.Err != nil || d.Aside != p+".damaged-20261207T150405Z" || !errors.Is(d.Reason, boltcheck.ErrDamaged) {
		t.Fatalf("got %+v", d)
	}
	if _, err := os.Stat(d.Aside); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the damaged file is still there: %v", err)
	}
}
