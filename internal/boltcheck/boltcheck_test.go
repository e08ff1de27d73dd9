package boltcheck

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

// checkpointKey is the key the receiver stores its checkpoint under (in file_storage's bucket
// "default"), so the damage below hits the page a real file keeps it in.
const checkpointKey = "message_trace_checkpoint"

// fileStorageOptions are the options contrib's file_storage v0.165.1 opens its files with.
func fileStorageOptions() *bbolt.Options {
	return &bbolt.Options{Timeout: time.Second, NoSync: true, NoFreelistSync: true, FreelistType: bbolt.FreelistMapType}
}

// writeReceiverLikeFile writes a file shaped like a receiver's: the default bucket with a
// checkpoint and remembered rows, rewritten many times (so pages have been freed and reused).
func writeReceiverLikeFile(t testing.TB, path string, opts *bbolt.Options) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for i := range 50 {
		err := db.Update(func(tx *bbolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("default"))
			if err != nil {
				return err
			}
			cp := fmt.Sprintf(`{"v":1,"tenant":"t","api":"graph","reset":"","done":"2026-12-07T%02d:00:00Z"}`, i%24)
			if err := b.Put([]byte(checkpointKey), []byte(cp)); err != nil {
				return err
			}
			return b.Put(fmt.Appendf(nil, "message_trace_seen_%d", i%7), bytes.Repeat([]byte{'x'}, 300*(i%5)))
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// checkpointPage finds the page in use whose leaf holds the checkpoint key (freed pages may
// hold older copies of it).
func checkpointPage(t testing.TB, raw []byte, ps int) int {
	t.Helper()
	c := &checker{r: bytes.NewReader(raw), size: int64(len(raw))}
	if err := c.run(); err != nil {
		t.Fatal(err)
	}
	for id := 2; (id+1)*ps <= len(raw); id++ {
		p := raw[id*ps : (id+1)*ps]
		if marked(c.reached, uint64(id)) && binary.LittleEndian.Uint16(p[8:]) == leafPageFlag && bytes.Contains(p, []byte(checkpointKey)) {
			return id
		}
	}
	t.Fatal("no leaf page holds the checkpoint")
	return 0
}

// damages are the four kinds of damage of issue 20, applied to a copy of a sound file.
// A cut at 10,000 bytes is harmless when no page in use lies past it (bbolt writes free pages
// before reading them), which depends on where bbolt put the pages; a cut after the meta pages
// never is.
var damages = []struct {
	name     string
	harmless bool // may leave a file bbolt reads without trouble
	apply    func(t testing.TB, path string)
}{
	{"truncated to 10000 bytes", true, func(t testing.TB, path string) {
		if err := os.Truncate(path, 10000); err != nil {
			t.Fatal(err)
		}
	}},
	{"truncated to the meta pages", false, func(t testing.TB, path string) {
		if err := os.Truncate(path, int64(2*os.Getpagesize())); err != nil {
			t.Fatal(err)
		}
	}},
	{"overwritten from 8192", false, func(t testing.TB, path string) {
		raw := readFile(t, path)
		_, _ = rand.Read(raw[8192:])
		writeFile(t, path, raw)
	}},
	{"bad flags in the checkpoint's page", false, func(t testing.TB, path string) {
		raw := readFile(t, path)
		id := checkpointPage(t, raw, os.Getpagesize())
		t.Logf("checkpoint in page %d: flags at offset %d", id, id*os.Getpagesize()+8)
		binary.LittleEndian.PutUint16(raw[id*os.Getpagesize()+8:], 0x20)
		writeFile(t, path, raw)
	}},
	{"bad count in the checkpoint's page", false, func(t testing.TB, path string) {
		raw := readFile(t, path)
		id := checkpointPage(t, raw, os.Getpagesize())
		t.Logf("checkpoint in page %d: count at offset %d", id, id*os.Getpagesize()+10)
		binary.LittleEndian.PutUint16(raw[id*os.Getpagesize()+10:], 0xFFF0)
		writeFile(t, path, raw)
	}},
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func writeFile(t testing.TB, path string, raw []byte) {
	t.Helper()
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestSoundFiles(t *testing.T) {
	dir := t.TempDir()
	withFreelist := *fileStorageOptions()
	withFreelist.NoFreelistSync = false
	for name, opts := range map[string]*bbolt.Options{"as file_storage": fileStorageOptions(), "freelist persisted": &withFreelist} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
			writeReceiverLikeFile(t, path, opts)
			// Large values (overflow pages), many keys (branch pages), nested and inline buckets.
			db, err := bbolt.Open(path, 0o600, opts)
			if err != nil {
				t.Fatal(err)
			}
			err = db.Update(func(tx *bbolt.Tx) error {
				b := tx.Bucket([]byte("default"))
				for i := range 3000 {
					if err := b.Put(fmt.Appendf(nil, "k%06d", i), bytes.Repeat([]byte{'v'}, i%97)); err != nil {
						return err
					}
				}
				if err := b.Put([]byte("big"), bytes.Repeat([]byte{'b'}, 5<<20)); err != nil {
					return err
				}
				nested, err := b.CreateBucket([]byte("nested"))
				if err != nil {
					return err
				}
				if _, err := nested.CreateBucket([]byte("inline")); err != nil {
					return err
				}
				for i := range 500 {
					if err := nested.Put(fmt.Appendf(nil, "n%d", i), []byte("v")); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Update(func(tx *bbolt.Tx) error {
				b := tx.Bucket([]byte("default"))
				for i := 0; i < 3000; i += 2 {
					if err := b.Delete(fmt.Appendf(nil, "k%06d", i)); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			if err := Verify(path); err != nil {
				t.Fatalf("a sound file reported as damaged: %v", err)
			}
		})
	}
	t.Run("empty", func(t *testing.T) {
		path := filepath.Join(dir, "empty")
		writeFile(t, path, nil)
		if err := Verify(path); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("missing", func(t *testing.T) {
		if err := Verify(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("got %v, want os.ErrNotExist", err)
		}
	})
}

// TestDamageIsFound applies each kind of damage of issue 20 to a receiver-like file and checks
// that Verify reports it and that bbolt, opened as file_storage opens it, really crashes on the
// same file (in a child process: its panics and faults cannot be recovered).
func TestDamageIsFound(t *testing.T) {
	for _, d := range damages {
		t.Run(d.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "receiver_office365_message_trace_a")
			writeReceiverLikeFile(t, path, fileStorageOptions())
			if err := Verify(path); err != nil {
				t.Fatalf("the sound file: %v", err)
			}
			d.apply(t, path)
			err := Verify(path)
			if err != nil && !errors.Is(err, ErrDamaged) {
				t.Fatalf("Verify = %v, want nil or ErrDamaged", err)
			}
			if err == nil && !d.harmless {
				t.Fatal("Verify found nothing")
			}
			t.Logf("Verify: %v", err)
			// What Verify says is what bbolt does: it crashes on a file Verify refuses and
			// works on one it accepts.
			out, exitErr := openInChild(t, path)
			switch {
			case err != nil && exitErr == nil:
				t.Fatalf("bbolt opened and wrote the file Verify refused without crashing; output:\n%s", out)
			case err == nil && exitErr != nil:
				t.Fatalf("bbolt crashed on a file Verify accepted: %v\n%s", exitErr, out)
			case err == nil && !strings.Contains(string(out), "update: <nil>"):
				t.Fatalf("bbolt could not write a file Verify accepted:\n%s", out)
			}
			t.Logf("bbolt in a child process: %v: %s", exitErr, firstLine(out))
		})
	}
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return s
}

// openInChild runs this test binary as a child that opens path with bbolt and writes to it as
// file_storage and the receiver do.
func openInChild(_ *testing.T, path string) ([]byte, error) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildOpen$")
	cmd.Env = append(os.Environ(), "BOLTCHECK_CHILD_OPEN="+path)
	return cmd.CombinedOutput()
}

func TestChildOpen(t *testing.T) {
	path := os.Getenv("BOLTCHECK_CHILD_OPEN")
	if path == "" {
		t.Skip("only as a child of TestDamageIsFound")
	}
	db, err := bbolt.Open(path, 0o600, fileStorageOptions())
	if err != nil {
		// An error is what the caller could handle: not the crash the test looks for.
		fmt.Println("open error:", err)
		os.Exit(0)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("default"))
		if err != nil {
			return err
		}
		_ = b.Get([]byte(checkpointKey))
		return b.Put([]byte(checkpointKey), []byte(`{"v":1}`))
	})
	fmt.Println("update:", err)
	os.Exit(0)
}

func FuzzVerifyReader(f *testing.F) {
	// Small seeds (1 KiB pages) keep the fuzzer fast: it minimizes every new input it finds.
	path := filepath.Join(f.TempDir(), "sound")
	opts := fileStorageOptions()
	opts.PageSize = 1024
	writeReceiverLikeFile(f, path, opts)
	sound := readFile(f, path)
	f.Add(sound)
	f.Add(sound[:len(sound)/3]) // cut short
	f.Add(sound[:2048])         // the meta pages only
	over := bytes.Clone(sound)  // overwritten after the meta pages
	for i := 2048; i < len(over); i++ {
		over[i] = byte(i * 7)
	}
	f.Add(over)
	for _, off := range []int{2048 + 8, 2048 + 10, 3072 + 8, 3072 + 10} { // flags and counts
		b := bytes.Clone(sound)
		binary.LittleEndian.PutUint16(b[off:], 0x20)
		f.Add(b)
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, raw []byte) {
		// Whatever the bytes, Verify ends without panicking and says sound or damaged.
		err := VerifyReader(bytes.NewReader(raw), int64(len(raw)))
		if err != nil && !errors.Is(err, ErrDamaged) {
			t.Fatalf("neither sound nor damaged: %v", err)
		}
	})
}
