package clusterdesc

import "testing"

func TestFilesystemID(t *testing.T) {
	dump := []byte(`{"epoch":12,"filesystems":[{"mdsmap":{"fs_name":"myfs"},"id":1},{"mdsmap":{"fs_name":"other"},"id":3}]}`)
	if id, err := FilesystemID(dump, "other"); err != nil || id != 3 {
		t.Errorf("FilesystemID(other) = %d, %v; want 3", id, err)
	}
	if _, err := FilesystemID(dump, "none"); err == nil {
		t.Error("a missing filesystem has an ID")
	}
	if _, err := FilesystemID([]byte("not json"), "myfs"); err == nil {
		t.Error("malformed output accepted")
	}
}
