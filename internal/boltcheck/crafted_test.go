package boltcheck

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/fnv"
	"testing"
	"time"
)

// craftFile builds a bbolt file by hand: two meta pages pointing at root page 2, with the given
// high-water mark, and page 2 as given.
func craftFile(root []byte, hwm uint64) []byte {
	const ps = 4096
	raw := make([]byte, 3*ps)
	le := binary.LittleEndian
	for i := range 2 {
		p := raw[i*ps:]
		le.PutUint64(p, uint64(i))
		le.PutUint16(p[8:], metaPageFlag)
		m := p[pageHeaderSize:]
		le.PutUint32(m, magic)
		le.PutUint32(m[4:], version)
		le.PutUint32(m[8:], ps)
		le.PutUint64(m[16:], 2)          // root bucket's page
		le.PutUint64(m[32:], noFreelist) // freelist
		le.PutUint64(m[40:], hwm)
		le.PutUint64(m[48:], uint64(i)) // txid
		h := fnv.New64a()
		h.Write(m[:56])
		le.PutUint64(m[56:], h.Sum64())
	}
	copy(raw[2*ps:], root)
	return raw
}

// leafPage is a leaf page (id 2 unless inline) whose elements are given by put.
func leafPage(id uint64, n int, put func(p []byte, i int, elemOff int, dataOff int) int) []byte {
	p := make([]byte, 4096)
	le := binary.LittleEndian
	le.PutUint64(p, id)
	le.PutUint16(p[8:], leafPageFlag)
	le.PutUint16(p[10:], uint16(n))
	data := pageHeaderSize + n*elementSize
	for i := range n {
		data = put(p, i, pageHeaderSize+i*elementSize, data)
	}
	return p[:data]
}

func TestCraftedSoundFile(t *testing.T) {
	// One bucket "b" (inline, empty): what bbolt writes for an empty bucket.
	inline := make([]byte, bucketHeaderSize+pageHeaderSize)
	binary.LittleEndian.PutUint16(inline[bucketHeaderSize+8:], leafPageFlag)
	root := leafPage(2, 1, func(p []byte, _, e, d int) int {
		le := binary.LittleEndian
		le.PutUint32(p[e:], bucketLeafFlag)
		le.PutUint32(p[e+4:], uint32(d-e))
		le.PutUint32(p[e+8:], 1)
		le.PutUint32(p[e+12:], uint32(len(inline)))
		p[d] = 'b'
		copy(p[d+1:], inline)
		return d + 1 + len(inline)
	})
	raw := craftFile(root, 3)
	if err := VerifyReader(bytes.NewReader(raw), int64(len(raw))); err != nil {
		t.Fatalf("the crafted sound file: %v", err)
	}
}

// TestHugeHighWaterMark: a meta page with a valid checksum that claims 2^50 pages must not make
// the check allocate for them (the bitmaps follow the file's size).
func TestHugeHighWaterMark(t *testing.T) {
	root := leafPage(2, 0, nil)
	raw := craftFile(root, 1<<50)
	if err := VerifyReader(bytes.NewReader(raw), int64(len(raw))); err != nil {
		t.Fatalf("a file shorter than its high-water mark, all pages in use inside it: %v", err)
	}
}

// TestOverlappingInlineBuckets: inline buckets nested 60 deep whose two elements share one
// value would be walked 2^60 times; the element budget stops it at once.
func TestOverlappingInlineBuckets(t *testing.T) {
	// Level k: bucket header, then an inline leaf page with two bucket elements whose values
	// are both level k+1; the innermost level is an empty leaf.
	le := binary.LittleEndian
	level := make([]byte, bucketHeaderSize+pageHeaderSize)
	le.PutUint16(level[bucketHeaderSize+8:], leafPageFlag)
	for range 60 {
		v := level
		page := make([]byte, pageHeaderSize+2*elementSize+2+len(v))
		le.PutUint16(page[8:], leafPageFlag)
		le.PutUint16(page[10:], 2)
		data := pageHeaderSize + 2*elementSize
		copy(page[data:], "ak")
		copy(page[data+2:], v)
		// Keys "ak" and "k" (in order), both followed by the same value.
		for i := range 2 {
			e := pageHeaderSize + i*elementSize
			le.PutUint32(page[e:], bucketLeafFlag)
			le.PutUint32(page[e+4:], uint32(data+i-e))
			le.PutUint32(page[e+8:], uint32(2-i))
			le.PutUint32(page[e+12:], uint32(len(v)))
		}
		level = append(make([]byte, bucketHeaderSize), page...)
	}
	if len(level) > 4000 {
		t.Fatalf("%d bytes do not fit a page", len(level))
	}
	root := leafPage(2, 1, func(p []byte, _, e, d int) int {
		le.PutUint32(p[e:], bucketLeafFlag)
		le.PutUint32(p[e+4:], uint32(d-e))
		le.PutUint32(p[e+8:], 1)
		le.PutUint32(p[e+12:], uint32(len(level)))
		p[d] = 'b'
		copy(p[d+1:], level)
		return d + 1 + len(level)
	})
	raw := craftFile(root, 3)
	done := make(chan error, 1)
	go func() { done <- VerifyReader(bytes.NewReader(raw), int64(len(raw))) }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrDamaged) {
			t.Fatalf("Verify = %v, want ErrDamaged", err)
		}
		t.Log(err)
	case <-time.After(10 * time.Second):
		t.Fatal("Verify still walking after 10 s")
	}
}
