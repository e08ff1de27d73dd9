// Package boltcheck verifies a bbolt database file (the format of the file_storage extension)
// without bbolt and without mapping it into memory.
//
// bbolt trusts its file: opened with NoFreelistSync (as file_storage opens it) it walks every
// page in a goroutine of its own that panics on the first inconsistency, and a file shorter
// than its pages faults (SIGBUS) when a page beyond its end is read through the mapping. Neither
// can be recovered by the program, so a damaged file takes the whole process down. Verify reads
// the file with ReadAt, one page header, element array or key at a time (memory bounded by the
// largest key, 32 KiB, times the tree's depth), and reports what bbolt would trip over: both
// meta pages, every byte in use within the file, and every page of every bucket reached from
// the root (its own id, type, element bounds, key order, no page reached twice, no freed page
// reached, bounded depth), plus a persisted freelist.
package boltcheck // import "github.com/msgtrace/otelcol-msgtrace/internal/boltcheck"

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// ErrDamaged is wrapped by every error Verify returns about the file's content (as opposed to
// errors opening or reading it).
var ErrDamaged = errors.New("damaged bbolt file")

// The layout of bbolt v1.x (go.etcd.io/bbolt/internal/common), little-endian as bbolt writes it
// on the platforms we build for.
const (
	magic            = 0xED0CDAED
	version          = 2
	pageHeaderSize   = 16 // id u64, flags u16, count u16, overflow u32
	elementSize      = 16 // branch: pos u32, ksize u32, pgid u64; leaf: flags u32, pos u32, ksize u32, vsize u32
	bucketHeaderSize = 16 // root pgid u64, sequence u64
	metaSumOffset    = pageHeaderSize + 56
	metaSize         = metaSumOffset + 8

	branchPageFlag   = 0x01
	leafPageFlag     = 0x02
	metaPageFlag     = 0x04
	freelistPageFlag = 0x10
	bucketLeafFlag   = 0x01

	noFreelist = ^uint64(0)

	// maxKeySize is bbolt's MaxKeySize.
	maxKeySize = 32768
	// maxDepth bounds the nesting of branch pages and buckets; a healthy tree of even a huge
	// file is a few levels deep, a cycle in a damaged one would be endless.
	maxDepth = 64
	// minPageSize and maxPageSize bound what a meta page may claim (bbolt tries 1 KiB to 16 MiB).
	minPageSize = 1024
	maxPageSize = 16 << 20
)

// Verify checks the bbolt file at path. It returns nil for a sound file and for an empty one
// (bbolt initialises it); an error wrapping os.ErrNotExist when there is no file; an error
// wrapping ErrDamaged that says what is wrong when bbolt would fail, panic or fault on it; and
// other errors when the file cannot be opened or read.
func Verify(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	if info.Size() == 0 {
		return nil
	}
	return VerifyReader(f, info.Size())
}

// VerifyReader checks size bytes of a bbolt file read from r; see Verify.
func VerifyReader(r io.ReaderAt, size int64) error {
	c := &checker{r: r, size: size}
	if err := c.run(); err != nil {
		var d *damage
		if errors.As(err, &d) {
			return fmt.Errorf("%w: %s", ErrDamaged, d.msg)
		}
		return err
	}
	return nil
}

type damage struct{ msg string }

func (d *damage) Error() string { return d.msg }

func damaged(format string, args ...any) error {
	return &damage{msg: fmt.Sprintf(format, args...)}
}

type meta struct {
	pageSize uint32
	root     uint64
	freelist uint64
	hwm      uint64 // pgid: the first page id past the end of the data
	txid     uint64
}

type checker struct {
	r       io.ReaderAt
	size    int64
	m       meta
	ps      int64
	pages   uint64 // page ids the bitmaps cover: those inside the file
	reached []byte // bitmap of pages reached, by page id
	freed   []byte // bitmap of pages in a persisted freelist
	budget  int64  // elements left to visit
}

// readAt reads n bytes at off; reading past the file's end is damage (that is what faults).
func (c *checker) readAt(off, n int64) ([]byte, error) {
	if off < 0 || n < 0 || off+n > c.size || off+n < off {
		return nil, damaged("bytes %d to %d are past the end of the file (%d bytes): the file is truncated", off, off+n, c.size)
	}
	buf := make([]byte, n)
	if _, err := c.r.ReadAt(buf, off); err != nil {
		return nil, fmt.Errorf("reading %d bytes at %d: %w", n, off, err)
	}
	return buf, nil
}

func (c *checker) run() error {
	m0, err0 := c.readMeta(0)
	if err0 != nil && !isDamage(err0) {
		return err0
	}
	var m1 meta
	err1 := damaged("no readable second meta page")
	// bbolt finds the second meta page at the first one's page size, or by trying sizes.
	for _, ps := range c.pageSizes(m0, err0) {
		if m1, err1 = c.readMeta(ps); err1 == nil {
			break
		} else if !isDamage(err1) {
			return err1
		}
	}
	switch {
	case err0 != nil && err1 != nil:
		return damaged("both meta pages are invalid (%v; %v)", err0, err1)
	case err0 != nil:
		c.m = m1
	case err1 != nil:
		c.m = m0
	case m1.txid > m0.txid:
		c.m = m1
	default:
		c.m = m0
	}
	// bbolt uses the newer meta, falling back to the other only when it fails its checksum,
	// which readMeta already applied. Both must describe a file bbolt can map.
	c.ps = int64(c.m.pageSize)
	if c.m.hwm < 2 {
		return damaged("meta claims %d pages, fewer than the two meta pages", c.m.hwm)
	}
	// A file shorter than its high-water mark is not damaged by itself: pages past its end
	// that are free are written before they are read. What faults is a page in use past the
	// end, which every read below checks (source.within, readAt).
	if need := int64(c.m.hwm) * c.ps; need/c.ps != int64(c.m.hwm) {
		return damaged("meta claims %d pages of %d bytes", c.m.hwm, c.ps)
	}
	// Pages in use lie inside the file, so the bitmaps need not reach past it, whatever the
	// high-water mark claims; free pages past the end cannot collide with pages in use.
	c.pages = min(c.m.hwm, uint64((c.size+c.ps-1)/c.ps))
	c.reached = make([]byte, (c.pages+7)/8)
	c.freed = make([]byte, (c.pages+7)/8)
	// Every element of a sound file takes 16 bytes of it, inline buckets included; elements
	// overlapping in a damaged one could otherwise be walked exponentially often.
	c.budget = c.size / elementSize
	mark(c.reached, 0)
	mark(c.reached, 1)
	if c.m.freelist != noFreelist {
		if err := c.checkFreelist(c.m.freelist); err != nil {
			return err
		}
	}
	if c.m.root == 0 {
		return damaged("the root bucket has no page")
	}
	_, err := c.checkPage(c.m.root, nil, nil, 0)
	return err
}

func isDamage(err error) bool {
	var d *damage
	return errors.As(err, &d)
}

// pageSizes are where to look for the second meta page.
func (c *checker) pageSizes(m0 meta, err0 error) []int64 {
	if err0 == nil {
		return []int64{int64(m0.pageSize)}
	}
	var sizes []int64
	for i := range 15 {
		pos := int64(1024) << i
		if pos >= c.size-1024 {
			break
		}
		sizes = append(sizes, pos)
	}
	return sizes
}

func (c *checker) readMeta(off int64) (meta, error) {
	buf, err := c.readAt(off, metaSize)
	if err != nil {
		return meta{}, err
	}
	le := binary.LittleEndian
	h := fnv.New64a()
	h.Write(buf[pageHeaderSize:metaSumOffset])
	switch {
	case le.Uint32(buf[16:]) != magic:
		return meta{}, damaged("meta page at %d: bad magic %#x", off, le.Uint32(buf[16:]))
	case le.Uint32(buf[20:]) != version:
		return meta{}, damaged("meta page at %d: version %d, not %d", off, le.Uint32(buf[20:]), version)
	case le.Uint64(buf[metaSumOffset:]) != h.Sum64():
		return meta{}, damaged("meta page at %d: checksum mismatch", off)
	}
	m := meta{
		pageSize: le.Uint32(buf[24:]),
		root:     le.Uint64(buf[32:]),
		freelist: le.Uint64(buf[48:]),
		hwm:      le.Uint64(buf[56:]),
		txid:     le.Uint64(buf[64:]),
	}
	if m.pageSize < minPageSize || m.pageSize > maxPageSize || m.pageSize&(m.pageSize-1) != 0 {
		return meta{}, damaged("meta page at %d: page size %d", off, m.pageSize)
	}
	if off != 0 && int64(m.pageSize) != off {
		return meta{}, damaged("meta page at %d: claims page size %d", off, m.pageSize)
	}
	if m.root >= m.hwm {
		return meta{}, damaged("meta page at %d: root page %d at or past the high-water mark %d", off, m.root, m.hwm)
	}
	if m.freelist != noFreelist && m.freelist >= m.hwm {
		return meta{}, damaged("meta page at %d: freelist page %d at or past the high-water mark %d", off, m.freelist, m.hwm)
	}
	return m, nil
}

func mark(bits []byte, id uint64)           { bits[id/8] |= 1 << (id % 8) }
func marked(bits []byte, id uint64) bool    { return bits[id/8]&(1<<(id%8)) != 0 }
func inRange(id, n uint64, hwm uint64) bool { return id >= 2 && id < hwm && n < hwm && id+n < hwm }

type header struct {
	id       uint64
	flags    uint16
	count    uint16
	overflow uint32
}

func parseHeader(b []byte) header {
	le := binary.LittleEndian
	return header{id: le.Uint64(b), flags: le.Uint16(b[8:]), count: le.Uint16(b[10:]), overflow: le.Uint32(b[12:])}
}

// reach reads the header of page id, checks what bbolt's FastCheck and its page walk check, and
// marks the page and its overflow as reached.
func (c *checker) reach(id uint64, want uint16) (header, error) {
	if id < 2 || id >= c.m.hwm {
		return header{}, damaged("page %d: out of bounds (high-water mark %d)", id, c.m.hwm)
	}
	b, err := c.readAt(int64(id)*c.ps, pageHeaderSize)
	if err != nil {
		return header{}, err
	}
	h := parseHeader(b)
	if h.id != id {
		return header{}, damaged("page %d: self identifies as %d", id, h.id)
	}
	switch h.flags {
	case branchPageFlag, leafPageFlag, metaPageFlag, freelistPageFlag:
	default:
		return header{}, damaged("page %d: unexpected type/flags %#x", id, h.flags)
	}
	if h.flags&want == 0 {
		return header{}, damaged("page %d: flags %#x where flags %#x are expected", id, h.flags, want)
	}
	if !inRange(id, uint64(h.overflow), c.m.hwm) {
		return header{}, damaged("page %d: overflow %d runs past the high-water mark %d", id, h.overflow, c.m.hwm)
	}
	if id+uint64(h.overflow) >= c.pages {
		return header{}, damaged("page %d: its %d overflow pages run past the end of the file (%d bytes): the file is truncated", id, h.overflow, c.size)
	}
	for i := uint64(0); i <= uint64(h.overflow); i++ {
		if marked(c.reached, id+i) {
			return header{}, damaged("page %d: reached twice", id+i)
		}
		if marked(c.freed, id+i) {
			return header{}, damaged("page %d: in use and in the freelist", id+i)
		}
		mark(c.reached, id+i)
	}
	return h, nil
}

func (c *checker) checkFreelist(id uint64) error {
	h, err := c.reach(id, freelistPageFlag)
	if err != nil {
		return err
	}
	base := int64(id)*c.ps + pageHeaderSize
	end := int64(id+uint64(h.overflow)+1) * c.ps
	n := int64(h.count)
	if h.count == 0xFFFF {
		b, err := c.readAt(base, 8)
		if err != nil {
			return err
		}
		n = int64(binary.LittleEndian.Uint64(b))
		base += 8
	}
	if n < 0 || n > (end-base)/8 {
		return damaged("freelist page %d: %d ids do not fit its %d pages", id, n, h.overflow+1)
	}
	const chunk = 4096
	for done := int64(0); done < n; done += chunk {
		k := min(chunk, n-done)
		b, err := c.readAt(base+done*8, k*8)
		if err != nil {
			return err
		}
		for i := range k {
			fid := binary.LittleEndian.Uint64(b[i*8:])
			if fid < 2 || fid >= c.m.hwm {
				return damaged("freelist page %d: free page %d out of bounds", id, fid)
			}
			if fid >= c.pages {
				continue // past the file's end: written before it is read
			}
			if marked(c.freed, fid) {
				return damaged("freelist page %d: page %d freed twice", id, fid)
			}
			if marked(c.reached, fid) {
				return damaged("freelist page %d: page %d is in use", id, fid)
			}
			mark(c.freed, fid)
		}
	}
	return nil
}

// source is a page's bytes: in the file (from base) or inline in a bucket's value.
type source struct {
	c      *checker
	base   int64  // offset of the page in the file, when inline is nil
	inline []byte // the page of an inline bucket
	extent int64  // bytes the page spans, overflow included
	id     uint64 // for messages
}

// within checks that n bytes at off lie inside the page, without reading them.
func (s *source) within(off, n int64) error {
	if off < 0 || n < 0 || off+n > s.extent || off+n < off {
		return damaged("page %d: an element spans bytes %d to %d of a page of %d bytes", s.id, off, off+n, s.extent)
	}
	if s.inline == nil && s.base+off+n > s.c.size {
		return damaged("page %d: its data runs to byte %d, past the end of the file (%d bytes): the file is truncated", s.id, s.base+off+n, s.c.size)
	}
	return nil
}

func (s *source) read(off, n int64) ([]byte, error) {
	if err := s.within(off, n); err != nil {
		return nil, err
	}
	if s.inline != nil {
		return s.inline[off : off+n], nil
	}
	return s.c.readAt(s.base+off, n)
}

// checkPage checks the subtree of a bucket rooted at page id and returns the largest key in it.
// min (inclusive) and maxOpen (exclusive) bound its keys, nil for no bound.
func (c *checker) checkPage(id uint64, minKey, maxOpen []byte, depth int) ([]byte, error) {
	if depth > maxDepth {
		return nil, damaged("page %d: the tree is deeper than %d levels", id, maxDepth)
	}
	h, err := c.reach(id, branchPageFlag|leafPageFlag)
	if err != nil {
		return nil, err
	}
	src := &source{c: c, base: int64(id) * c.ps, extent: int64(uint64(h.overflow)+1) * c.ps, id: id}
	return c.checkNode(src, h, minKey, maxOpen, depth)
}

func (c *checker) checkNode(src *source, h header, minKey, maxOpen []byte, depth int) ([]byte, error) {
	id := src.id
	if h.flags == branchPageFlag && h.count == 0 {
		return nil, damaged("page %d: a branch page without elements", id)
	}
	elems, err := src.read(pageHeaderSize, int64(h.count)*elementSize)
	if err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	kind := "leaf"
	if h.flags == branchPageFlag {
		kind = "branch"
	}
	// keyAt reads element i's key (and, for leaves, its value's offset and size).
	keyAt := func(i int) (key []byte, flags uint32, voff, vsize, child uint64, err error) {
		e := elems[i*elementSize:]
		eoff := int64(pageHeaderSize + i*elementSize)
		var pos, ksize uint32
		if h.flags == branchPageFlag {
			pos, ksize, child = le.Uint32(e), le.Uint32(e[4:]), le.Uint64(e[8:])
		} else {
			flags, pos, ksize, vsize = le.Uint32(e), le.Uint32(e[4:]), le.Uint32(e[8:]), uint64(le.Uint32(e[12:]))
		}
		if ksize == 0 || ksize > maxKeySize {
			return nil, 0, 0, 0, 0, damaged("page %d: %s element %d has a key of %d bytes", id, kind, i, ksize)
		}
		koff := eoff + int64(pos)
		if key, err = src.read(koff, int64(ksize)); err != nil {
			return nil, 0, 0, 0, 0, err
		}
		voff = uint64(koff) + uint64(ksize)
		if h.flags == leafPageFlag {
			if err := src.within(int64(voff), int64(vsize)); err != nil {
				return nil, 0, 0, 0, 0, err
			}
		}
		return key, flags, voff, vsize, child, nil
	}
	if c.budget -= int64(h.count); c.budget < 0 {
		return nil, damaged("page %d: more elements than the file can hold (pages or buckets overlap)", id)
	}
	running := minKey
	var maxInSubtree []byte
	for i := range int(h.count) {
		key, flags, voff, vsize, child, err := keyAt(i)
		if err != nil {
			return nil, err
		}
		key = bytes.Clone(key)
		if i == 0 && running != nil && bytes.Compare(running, key) > 0 {
			return nil, damaged("page %d: first key of a %s page below its parent's", id, kind)
		}
		if i > 0 && bytes.Compare(running, key) >= 0 {
			return nil, damaged("page %d: %s keys out of order at element %d", id, kind, i)
		}
		if maxOpen != nil && bytes.Compare(key, maxOpen) >= 0 {
			return nil, damaged("page %d: %s key %d not below the next key of its parent", id, kind, i)
		}
		if h.flags == branchPageFlag {
			next := maxOpen
			if i+1 < int(h.count) {
				nk, _, _, _, _, err := keyAt(i + 1)
				if err != nil {
					return nil, err
				}
				next = bytes.Clone(nk)
			}
			top, err := c.checkPage(child, key, next, depth+1)
			if err != nil {
				return nil, err
			}
			running, maxInSubtree = top, top
			continue
		}
		running, maxInSubtree = key, key
		if flags&bucketLeafFlag != 0 {
			if err := c.checkBucket(src, i, int64(voff), int64(vsize), depth); err != nil {
				return nil, err
			}
		} else if flags != 0 {
			return nil, damaged("page %d: leaf element %d has flags %#x", id, i, flags)
		}
	}
	return maxInSubtree, nil
}

// checkBucket checks the bucket stored as the value of leaf element i of src.
func (c *checker) checkBucket(src *source, i int, voff, vsize int64, depth int) error {
	if vsize < bucketHeaderSize || vsize > c.ps {
		return damaged("page %d: bucket element %d has a value of %d bytes", src.id, i, vsize)
	}
	v, err := src.read(voff, vsize)
	if err != nil {
		return err
	}
	root := binary.LittleEndian.Uint64(v)
	if root != 0 {
		_, err := c.checkPage(root, nil, nil, depth+1)
		return err
	}
	inline := bytes.Clone(v[bucketHeaderSize:])
	if len(inline) < pageHeaderSize {
		return damaged("page %d: inline bucket of element %d is %d bytes", src.id, i, len(inline))
	}
	h := parseHeader(inline)
	if h.flags != leafPageFlag {
		return damaged("page %d: inline bucket of element %d has flags %#x", src.id, i, h.flags)
	}
	if depth+1 > maxDepth {
		return damaged("page %d: buckets nested deeper than %d levels", src.id, maxDepth)
	}
	in := &source{c: c, inline: inline, extent: int64(len(inline)), id: src.id}
	_, err = c.checkNode(in, h, nil, nil, depth+1)
	return err
}
