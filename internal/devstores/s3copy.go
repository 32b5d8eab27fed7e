package devstores

import (
	"bytes"
	"fmt"
	"io"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3bolt"
	bolt "go.etcd.io/bbolt"
	"gopkg.in/mgo.v2/bson"
)

// copyingBackend is s3bolt with a safe read path. s3bolt's GetObject
// decodes the object with bson straight from bbolt's memory map, so the
// returned contents and hash point into the map after the read
// transaction ends; when bbolt grows the file and remaps, reading them
// faults (or serves another object's bytes). Here the value is copied
// inside the transaction. Writes (and their conditional checks) run
// inside write transactions and are safe as they are.
type copyingBackend struct {
	*s3bolt.Backend
	db *bolt.DB
}

// boltObject is s3bolt's stored object (its schema.go).
type boltObject struct {
	Name         string
	Metadata     map[string]string
	LastModified time.Time
	Size         int64
	Contents     []byte
	Hash         []byte
}

func (b *copyingBackend) load(bucketName, objectName string) (*boltObject, error) {
	var data []byte
	err := b.db.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket([]byte(bucketName))
		if bk == nil {
			return gofakes3.BucketNotFound(bucketName)
		}
		v := bk.Get([]byte(objectName))
		if v == nil {
			return gofakes3.KeyNotFound(objectName)
		}
		data = bytes.Clone(v)
		return nil
	})
	if err != nil {
		return nil, err
	}
	var t boltObject
	if err := bson.Unmarshal(data, &t); err != nil {
		return nil, fmt.Errorf("embedded s3: decode %q/%q: %w", bucketName, objectName, err)
	}
	return &t, nil
}

// GetObject implements gofakes3.Backend.
func (b *copyingBackend) GetObject(bucketName, objectName string, rangeRequest *gofakes3.ObjectRangeRequest) (*gofakes3.Object, error) {
	t, err := b.load(bucketName, objectName)
	if err != nil {
		return nil, err
	}
	rnge, err := rangeRequest.Range(t.Size)
	if err != nil {
		return nil, err
	}
	data := t.Contents
	if rnge != nil {
		data = data[rnge.Start : rnge.Start+rnge.Length]
	}
	return &gofakes3.Object{Name: objectName, Metadata: t.Metadata, Size: t.Size,
		Contents: io.NopCloser(bytes.NewReader(data)), Range: rnge, Hash: t.Hash}, nil
}

// HeadObject implements gofakes3.Backend.
func (b *copyingBackend) HeadObject(bucketName, objectName string) (*gofakes3.Object, error) {
	t, err := b.load(bucketName, objectName)
	if err != nil {
		return nil, err
	}
	return &gofakes3.Object{Name: objectName, Metadata: t.Metadata, Size: t.Size,
		Contents: io.NopCloser(bytes.NewReader(nil)), Hash: t.Hash}, nil
}
