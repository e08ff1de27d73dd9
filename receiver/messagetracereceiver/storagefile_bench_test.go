package messagetracereceiver

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/metadata"
)

// BenchmarkSaveStorageChecks is what the damage protection adds to a save of a busy tenant
// (file_storage, 50,000 remembered rows, one bucket changed per save as a page does): the stat
// of checkBeforeSave on every save ("checked", the copy already written this minute) against
// no check and no copy ("unchecked": another storage extension), and the state copy itself
// ("copy", written at most once a minute).
//
//	go test -run '^$' -bench BenchmarkSaveStorageChecks -benchmem -count 3 ./receiver/messagetracereceiver/
func BenchmarkSaveStorageChecks(b *testing.B) {
	const rows = 50_000
	newR := func(b *testing.B, checked bool) *messageTraceReceiver {
		cfg := createDefaultConfig().(*Config)
		cfg.TenantID, cfg.ClientID, cfg.ClientSecret = "t", "c", "s"
		id := component.MustNewID("file_storage")
		cfg.StorageID = &id
		set := receivertest.NewNopSettings(metadata.Type)
		set.ID = component.NewIDWithName(metadata.Type, "bench")
		r, err := newReceiver(set, cfg, new(consumertest.LogsSink))
		if err != nil {
			b.Fatal(err)
		}
		if err := r.loadState(context.Background(), newFileStorage(b, b.TempDir())); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = r.Shutdown(context.Background()) })
		rng := rand.New(rand.NewPCG(1, 2))
		for k := range 100 {
			bk := &seenBucket{hashes: make([]uint64, rows/100), statuses: make([]uint8, rows/100)}
			for i := range bk.hashes {
				bk.hashes[i] = rng.Uint64()
			}
			bk.dirty = true
			seenOf(r).buckets[int64(k)*int64(bucketSpan/time.Second)] = bk
		}
		r.disk.save(context.Background())
		if !checked {
			r.disk.path = ""
		}
		return r
	}
	for _, checked := range []bool{false, true} {
		name := "unchecked"
		if checked {
			name = "checked"
		}
		b.Run("save/"+name, func(b *testing.B) {
			r := newR(b, checked)
			k := int64(0)
			for b.Loop() {
				seenOf(r).buckets[k%100*int64(bucketSpan/time.Second)].dirty = true
				k++
				r.disk.save(context.Background())
				if r.state.unsaved || r.state.store.client == nil {
					b.Fatal("save failed")
				}
			}
		})
	}
	b.Run("copy", func(b *testing.B) {
		r := newR(b, true)
		for b.Loop() {
			r.disk.writeStateCopy(true)
		}
	})
}
