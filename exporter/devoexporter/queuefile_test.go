package devoexporter

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/storagetest"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/msgtrace/otelcol-msgtrace/exporter/devoexporter/internal/metadatatest"
	"github.com/msgtrace/otelcol-msgtrace/internal/boltcheck"
	"github.com/msgtrace/otelcol-msgtrace/internal/devotest"
)

// TestDamagedQueueFileIsMovedAside: a persistent queue whose file_storage file is damaged (cut
// short) used to crash the collector in bbolt at every start. The exporter moves it
// aside in its start, before exporterhelper opens the queue, says so, and delivers again.
func TestDamagedQueueFileIsMovedAside(t *testing.T) {
	dir := t.TempDir()
	f := filestorage.NewFactory()
	fcfg := f.CreateDefaultConfig().(*filestorage.Config)
	fcfg.Directory = dir
	ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), fcfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, ext.Shutdown(context.Background())) }()
	storageID := component.MustNewID("file_storage")
	host := storagetest.NewStorageHost().WithExtension(storageID, ext)

	s, files := newSink(t, devotest.Options{})
	cfg := sinkConfig(t, s, files)
	q := exporterhelper.NewDefaultQueueConfig()
	q.StorageID, q.WaitForResult = &storageID, false
	q.Batch = configoptional.None[exporterhelper.BatchConfig]()
	cfg.Queue = configoptional.Some(q)
	require.NoError(t, cfg.Validate())

	run := func(body string) *observer.ObservedLogs {
		tt := componenttest.NewTelemetry()
		defer func() { require.NoError(t, tt.Shutdown(context.Background())) }()
		set := metadatatest.NewSettings(tt)
		core, logs := observer.New(zapcore.InfoLevel)
		set.Logger = zap.New(core)
		exp, err := NewFactory().CreateLogs(context.Background(), set, cfg)
		require.NoError(t, err)
		require.NoError(t, exp.Start(context.Background(), host))
		ld := plog.NewLogs()
		ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr(body)
		require.NoError(t, exp.ConsumeLogs(context.Background(), ld))
		deadline := time.Now().Add(10 * time.Second)
		for !sinkHas(s, body) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		require.True(t, sinkHas(s, body), "%q not delivered", body)
		require.NoError(t, exp.Shutdown(context.Background()))
		return logs
	}
	run("first")
	path := filepath.Join(dir, "exporter_devo__logs")
	require.NoError(t, boltcheck.Verify(path), "the queue's file is where the exporter looks")
	info, err := os.Stat(path)
	require.NoError(t, err)
	t.Logf("queue file: %d bytes", info.Size())
	// Cut after the meta pages: the queue's pages in use are gone (a cut at 10,000 bytes can
	// leave all of them, and bbolt then uses the file as it is).
	require.NoError(t, os.Truncate(path, int64(2*os.Getpagesize())))

	logs := run("second")
	moved := logs.FilterLevelExact(zapcore.ErrorLevel).FilterMessageSnippet("the persistent queue file is damaged: moved aside").All()
	require.Len(t, moved, 1)
	require.Equal(t, path, moved[0].ContextMap()["file"])
	m, _ := filepath.Glob(path + ".damaged-*")
	require.Len(t, m, 1)
	require.NoError(t, boltcheck.Verify(path), "the new queue file")
}

func sinkHas(s *devotest.Sink, body string) bool {
	for _, ev := range s.Events() {
		if strings.Contains(ev.Message, body) {
			return true
		}
	}
	return false
}
