package devstores

import (
	"bytes"
	"crypto/md5"
	"fmt"
	"io"
	"time"

	"github.com/johannesboyne/gofakes3"
	bolt "go.etcd.io/bbolt"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// boltBackend is the embedded S3's storage: a gofakes3.Backend on one bbolt
// file, in the layout of gofakes3's own s3bolt backend (a bbolt bucket per
// S3 bucket, keyed by object name, each value a BSON boltObject; bucket
// records under "_meta"), so data dirs written by earlier versions open
// unchanged.
//
// It replaces s3bolt, which decoded values in place from bbolt's memory
// map: the object it returned pointed into the map after the read
// transaction had ended, and when bbolt grew the file and remapped, reading
// it faulted (a SIGSEGV in about 1 run in 12) or served another object's
// bytes. Here every value is copied before it is decoded, inside its
// transaction. s3bolt's BSON came from gopkg.in/mgo.v2 (unmaintained since
// 2018); the records are the same bytes through the MongoDB driver's bson,
// which the server links anyway.
type boltBackend struct {
	db  *bolt.DB
	now func() time.Time
}

var _ gofakes3.Backend = (*boltBackend)(nil)

// metaBucket holds one boltBucket record a bucket, under "bucket/<name>";
// the underscore keeps it apart from every legal S3 bucket name.
var metaBucket = []byte("_meta")

// boltObject is one stored object (s3bolt's schema.go; BSON keys are the
// lower-cased field names).
type boltObject struct {
	Name         string
	Metadata     map[string]string
	LastModified time.Time
	Size         int64
	Contents     []byte
	Hash         []byte
}

// boltBucket is one bucket's record in metaBucket.
type boltBucket struct {
	CreationDate time.Time
}

func bucketMetaKey(name string) []byte { return []byte("bucket/" + name) }

// decode copies v, which lives in bbolt's memory map only while its
// transaction is open, and decodes the copy.
func decode(v []byte, into any) error {
	return bson.Unmarshal(bytes.Clone(v), into)
}

func (b *boltBackend) ListBuckets() ([]gofakes3.BucketInfo, error) {
	var buckets []gofakes3.BucketInfo
	err := b.db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(metaBucket)
		return tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			if bytes.Equal(name, metaBucket) {
				return nil
			}
			info := gofakes3.BucketInfo{Name: string(name)}
			if meta != nil {
				if v := meta.Get(bucketMetaKey(info.Name)); v != nil {
					var bb boltBucket
					if err := decode(v, &bb); err != nil {
						return fmt.Errorf("embedded s3: decode bucket %q: %w", info.Name, err)
					}
					info.CreationDate = gofakes3.NewContentTime(bb.CreationDate)
				}
			}
			if info.CreationDate.IsZero() { // the AWS CLI fails without one
				info.CreationDate = gofakes3.NewContentTime(b.now())
			}
			buckets = append(buckets, info)
			return nil
		})
	})
	return buckets, err
}

// ListBucket walks the bucket's keys in order from the page's marker,
// rolling keys up into common prefixes where the prefix has a delimiter.
func (b *boltBackend) ListBucket(name string, prefix *gofakes3.Prefix, page gofakes3.ListBucketPage) (*gofakes3.ObjectList, error) {
	if prefix == nil {
		prefix = &gofakes3.Prefix{}
	}
	objects := gofakes3.NewObjectList()
	err := b.db.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket([]byte(name))
		if bk == nil {
			return gofakes3.BucketNotFound(name)
		}
		c := bk.Cursor()
		var k, v []byte
		if page.HasMarker {
			k, v = c.Seek([]byte(page.Marker))
			if string(k) == page.Marker {
				k, v = c.Next()
			}
		} else {
			k, v = c.First()
		}
		var (
			match           gofakes3.PrefixMatch
			count           int64
			lastMatchedPart string
			lastKey         string
		)
		for ; k != nil; k, v = c.Next() {
			key := string(k)
			if !prefix.Match(key, &match) {
				continue
			}
			if match.CommonPrefix {
				if match.MatchedPart == lastMatchedPart {
					continue // already listed; does not count towards MaxKeys
				}
				objects.AddPrefix(match.MatchedPart)
				lastMatchedPart = match.MatchedPart
			} else {
				var o boltObject
				if err := decode(v, &o); err != nil {
					return fmt.Errorf("embedded s3: decode %q/%q: %w", name, key, err)
				}
				objects.Add(&gofakes3.Content{
					Key:          key,
					ETag:         gofakes3.FormatETag(o.Hash),
					Size:         o.Size,
					LastModified: gofakes3.NewContentTime(o.LastModified.UTC()),
				})
			}
			// The marker is always a raw key: a common prefix ("a/") as
			// marker would not advance past the keys under it.
			lastKey = key
			count++
			if page.MaxKeys > 0 && count >= page.MaxKeys {
				// Truncated only if a key outside the prefix just listed
				// follows; the marker skips that prefix's remaining keys.
				next := lastKey
				for nk, _ := c.Next(); nk != nil; nk, _ = c.Next() {
					var m gofakes3.PrefixMatch
					if !prefix.Match(string(nk), &m) {
						continue
					}
					if m.CommonPrefix && m.MatchedPart == lastMatchedPart {
						next = string(nk)
						continue
					}
					objects.IsTruncated = true
					objects.NextMarker = next
					break
				}
				break
			}
		}
		return nil
	})
	return objects, err
}

func (b *boltBackend) CreateBucket(name string) error {
	record, err := bson.Marshal(&boltBucket{CreationDate: b.now()})
	if err != nil {
		return err
	}
	return b.db.Update(func(tx *bolt.Tx) error {
		if tx.Bucket([]byte(name)) != nil {
			return gofakes3.ResourceError(gofakes3.ErrBucketAlreadyExists, name)
		}
		meta, err := tx.CreateBucketIfNotExists(metaBucket)
		if err != nil {
			return err
		}
		if err := meta.Put(bucketMetaKey(name), record); err != nil {
			return err
		}
		_, err = tx.CreateBucket([]byte(name))
		return err
	})
}

func (b *boltBackend) BucketExists(name string) (exists bool, err error) {
	err = b.db.View(func(tx *bolt.Tx) error {
		exists = tx.Bucket([]byte(name)) != nil
		return nil
	})
	return exists, err
}

func (b *boltBackend) DeleteBucket(name string) error {
	return b.deleteBucket(name, false)
}

func (b *boltBackend) ForceDeleteBucket(name string) error {
	return b.deleteBucket(name, true)
}

// deleteBucket deletes the bucket and its record; unless force, only an
// empty bucket.
func (b *boltBackend) deleteBucket(name string, force bool) error {
	if name == string(metaBucket) {
		return gofakes3.ResourceError(gofakes3.ErrInvalidBucketName, name)
	}
	return b.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket([]byte(name))
		if bk == nil {
			return gofakes3.BucketNotFound(name)
		}
		if k, _ := bk.Cursor().First(); k != nil && !force {
			return gofakes3.ResourceError(gofakes3.ErrBucketNotEmpty, name)
		}
		if meta := tx.Bucket(metaBucket); meta != nil {
			if err := meta.Delete(bucketMetaKey(name)); err != nil {
				return err
			}
		}
		return tx.DeleteBucket([]byte(name))
	})
}

// load reads one object, copied out of the map inside the transaction.
func (b *boltBackend) load(bucketName, objectName string) (*boltObject, error) {
	var o boltObject
	err := b.db.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket([]byte(bucketName))
		if bk == nil {
			return gofakes3.BucketNotFound(bucketName)
		}
		v := bk.Get([]byte(objectName))
		if v == nil {
			return gofakes3.KeyNotFound(objectName)
		}
		if err := decode(v, &o); err != nil {
			return fmt.Errorf("embedded s3: decode %q/%q: %w", bucketName, objectName, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &o, nil
}

func (b *boltBackend) GetObject(bucketName, objectName string, rangeRequest *gofakes3.ObjectRangeRequest) (*gofakes3.Object, error) {
	o, err := b.load(bucketName, objectName)
	if err != nil {
		return nil, err
	}
	rnge, err := rangeRequest.Range(o.Size)
	if err != nil {
		return nil, err
	}
	data := o.Contents
	if rnge != nil {
		data = data[rnge.Start : rnge.Start+rnge.Length]
	}
	return &gofakes3.Object{Name: objectName, Metadata: o.Metadata, Size: o.Size,
		Contents: io.NopCloser(bytes.NewReader(data)), Range: rnge, Hash: o.Hash}, nil
}

func (b *boltBackend) HeadObject(bucketName, objectName string) (*gofakes3.Object, error) {
	o, err := b.load(bucketName, objectName)
	if err != nil {
		return nil, err
	}
	return &gofakes3.Object{Name: objectName, Metadata: o.Metadata, Size: o.Size,
		Contents: io.NopCloser(bytes.NewReader(nil)), Hash: o.Hash}, nil
}

// PutObject checks the conditions (If-Match, If-None-Match) and writes in
// one write transaction, so two conditional saves of one player cannot
// both win.
func (b *boltBackend) PutObject(bucketName, objectName string, meta map[string]string, input io.Reader, size int64, conditions *gofakes3.PutConditions) (gofakes3.PutObjectResult, error) {
	var result gofakes3.PutObjectResult
	body, err := gofakes3.ReadAll(input, size)
	if err != nil {
		return result, err
	}
	if meta == nil {
		meta = map[string]string{}
	}
	// gofakes3's convention (s3bolt's too): keys the write does not set
	// carry over from the object it replaces.
	if err := gofakes3.MergeMetadata(b, bucketName, objectName, meta); err != nil {
		return result, err
	}
	hash := md5.Sum(body)
	record, err := bson.Marshal(&boltObject{Name: objectName, Metadata: meta, LastModified: b.now(),
		Size: int64(len(body)), Contents: body, Hash: hash[:]})
	if err != nil {
		return result, err
	}
	return result, b.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket([]byte(bucketName))
		if bk == nil {
			return gofakes3.BucketNotFound(bucketName)
		}
		if conditions != nil {
			current := &gofakes3.ConditionalObjectInfo{}
			if v := bk.Get([]byte(objectName)); v != nil {
				var o boltObject
				if err := decode(v, &o); err != nil {
					return fmt.Errorf("embedded s3: decode %q/%q: %w", bucketName, objectName, err)
				}
				current.Exists, current.Hash = true, o.Hash
			}
			if err := gofakes3.CheckPutConditions(conditions, current); err != nil {
				return err
			}
		}
		return bk.Put([]byte(objectName), record)
	})
}

func (b *boltBackend) CopyObject(srcBucket, srcKey, dstBucket, dstKey string, meta map[string]string) (gofakes3.CopyObjectResult, error) {
	return gofakes3.CopyObject(b, srcBucket, srcKey, dstBucket, dstKey, meta)
}

// DeleteObject deletes the object; a missing one is not an error (S3's
// rule).
func (b *boltBackend) DeleteObject(bucketName, objectName string) (gofakes3.ObjectDeleteResult, error) {
	var result gofakes3.ObjectDeleteResult
	return result, b.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket([]byte(bucketName))
		if bk == nil {
			return gofakes3.BucketNotFound(bucketName)
		}
		if err := bk.Delete([]byte(objectName)); err != nil {
			return fmt.Errorf("embedded s3: delete %q/%q: %w", bucketName, objectName, err)
		}
		return nil
	})
}

func (b *boltBackend) DeleteMulti(bucketName string, objects ...string) (gofakes3.MultiDeleteResult, error) {
	var result gofakes3.MultiDeleteResult
	err := b.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket([]byte(bucketName))
		if bk == nil {
			return gofakes3.BucketNotFound(bucketName)
		}
		for _, key := range objects {
			if err := bk.Delete([]byte(key)); err != nil {
				result.Error = append(result.Error, gofakes3.ErrorResult{
					Code: gofakes3.ErrInternal, Message: gofakes3.ErrInternal.Message(), Key: key})
				continue
			}
			result.Deleted = append(result.Deleted, gofakes3.ObjectID{Key: key})
		}
		return nil
	})
	return result, err
}
