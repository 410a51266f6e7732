package archive

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
)

// extract: the content of the archive's member called file.
func extract(r io.Reader, file string) ([]byte, error) {
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s not in the archive", file)
		}
		if err != nil {
			return nil, err
		}
		if hdr.Name == file {
			return io.ReadAll(tr)
		}
	}
}
