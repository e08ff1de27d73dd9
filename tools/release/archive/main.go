// Command archive writes a reproducible .tar.gz, .tar or .zip of the release (scripts/release.sh):
// entries sorted by name, one directory prefix, the given modification time, owner root, modes
// 0755 for executables and 0644 otherwise, no gzip name or time, so that two builds of one
// commit give the same bytes.
//
//	archive -o dist/x.tar.gz -prefix x/ -mtime 1700000000 SRC=NAME...
package main

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"
)

func main() {
	out := flag.String("o", "", "output file, .tar.gz or .zip")
	prefix := flag.String("prefix", "", "directory prefix of every entry, ending in /")
	mtime := flag.Int64("mtime", 0, "modification time of every entry (Unix seconds)")
	flag.Parse()
	if *out == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: archive -o OUT.tar.gz|OUT.zip -prefix DIR/ -mtime SECONDS SRC=NAME...")
		os.Exit(2)
	}
	if err := write(*out, *prefix, time.Unix(*mtime, 0).UTC(), flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "archive:", err)
		os.Exit(1)
	}
}

type entry struct{ src, name string }

func write(out, prefix string, mtime time.Time, args []string) error {
	var entries []entry
	for _, a := range args {
		src, name, ok := strings.Cut(a, "=")
		if !ok || src == "" || name == "" {
			return fmt.Errorf("%q is not SRC=NAME", a)
		}
		entries = append(entries, entry{src, prefix + name})
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].name < entries[j].name })
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	switch {
	case strings.HasSuffix(out, ".tar.gz"):
		err = writeTarGz(f, entries, prefix, mtime)
	case strings.HasSuffix(out, ".tar"):
		err = writeTar(f, entries, prefix, mtime)
	case strings.HasSuffix(out, ".zip"):
		err = writeZip(f, entries, prefix, mtime)
	default:
		err = fmt.Errorf("%s: want .tar.gz, .tar or .zip", out)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(out)
	}
	return err
}

// mode is 0755 for a file any of whose execute bits is set, else 0644.
func mode(src string) (int64, int64, error) {
	st, err := os.Stat(src)
	if err != nil {
		return 0, 0, err
	}
	if !st.Mode().IsRegular() {
		return 0, 0, fmt.Errorf("%s is not a regular file", src)
	}
	if st.Mode()&0o111 != 0 {
		return 0o755, st.Size(), nil
	}
	return 0o644, st.Size(), nil
}

func writeTarGz(w io.Writer, entries []entry, prefix string, mtime time.Time) error {
	gz, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	if err := writeTar(gz, entries, prefix, mtime); err != nil {
		return err
	}
	return gz.Close()
}

func writeTar(w io.Writer, entries []entry, prefix string, mtime time.Time) error {
	tw := tar.NewWriter(w)
	if prefix != "" {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: prefix, Mode: 0o755, ModTime: mtime, Format: tar.FormatPAX}); err != nil {
			return err
		}
	}
	for _, e := range entries {
		m, size, err := mode(e.src)
		if err != nil {
			return err
		}
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: e.name, Mode: m, Size: size, ModTime: mtime, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if err := copyFile(tw, e.src); err != nil {
			return err
		}
	}
	return tw.Close()
}

func writeZip(w io.Writer, entries []entry, prefix string, mtime time.Time) error {
	zw := zip.NewWriter(w)
	if prefix != "" {
		h := &zip.FileHeader{Name: prefix, Modified: mtime}
		h.SetMode(os.ModeDir | 0o755)
		if _, err := zw.CreateHeader(h); err != nil {
			return err
		}
	}
	for _, e := range entries {
		m, _, err := mode(e.src)
		if err != nil {
			return err
		}
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate, Modified: mtime}
		h.SetMode(os.FileMode(m))
		fw, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		if err := copyFile(fw, e.src); err != nil {
			return err
		}
	}
	return zw.Close()
}

func copyFile(w io.Writer, src string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}
